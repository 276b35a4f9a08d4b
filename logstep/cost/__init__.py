"""``logstep cost``: what the pipeline costs per GB of logs.

``model`` (usage, prices, the bill and projections, shared by both sources), ``report``
(how a bill is printed), ``deployed`` (a deployed stage's usage, read from AWS), ``units``
(per-record billing units) and ``command`` (the ``logstep cost`` command, which reads
either a demo's ``--summary-json`` or, with ``--deployed``, a stage). ``model`` imports
neither ``deployed`` nor ``command``: the model is what both use.
"""
