"""Deploy-time commands: ``infra`` (``logstep infra``: the stack template), ``deploy`` and
``destroy`` (``logstep deploy`` / ``logstep destroy``), and ``index`` (``logstep index``:
the search cluster's template and retention). Nothing here ships to Lambda."""
