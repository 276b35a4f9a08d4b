"""Where documents leave the pipeline: one module per destination (shell).

``kinesis`` writes the destination stream with PutRecords; ``search`` writes the
cluster's ``_bulk`` API. Both take a chunk's framed records and answer with the same
``DeliveryOutcome``, so put_batch, pending sets, Retry and replay do not care which.
"""
