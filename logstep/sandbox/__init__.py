"""The local sandbox: logstep's pipeline on moto with no AWS account and no Docker.

``pipeline`` (the pipeline on moto, the event source mapping's poller), ``faults`` (the
destination stream's injected failures), ``search`` (osmem-server behind a fault proxy),
``firehose`` (the Firehose stand-in), ``traffic`` and ``batchgen`` (generated log events),
and the two commands that run it: ``demo`` (``logstep demo``) and ``local``
(``logstep local``). Nothing here ships to Lambda.
"""
