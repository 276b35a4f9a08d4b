"""AWS limits logstep designs around, as named constants with their unit.

Kinesis Data Streams quotas:
https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
PutRecords API: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html
Step Functions quotas: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
"""

# PutRecords: "Each PutRecords request can support up to 500 records."
MAX_RECORDS_PER_REQUEST = 500
# PutRecords: "the entire request, including partition keys" up to 5 MiB (the default;
# streams can be raised to 10 MiB records, keep this configurable through Settings).
MAX_REQUEST_BYTES = 5 * 1024 * 1024
# "Each record in the request can be as large as 1 MiB, including partition keys."
MAX_RECORD_BYTES = 1024 * 1024
# Partition keys are Unicode strings with a maximum length of 256 characters.
MAX_PARTITION_KEY_CHARS = 256

# Step Functions: "maximum input or output size for a task, state, or execution is
# 256 KiB of data as a UTF-8 encoded string".
MAX_STATE_PAYLOAD_BYTES = 256 * 1024

# A delivery chunk is what one Map iteration (one put_batch invocation) sends, and Step
# Functions bills a transition per iteration, so a chunk carries many PutRecords calls.
# Both limits count Kinesis records as written: in aggregated mode a record carries ~50
# documents, so the byte cap is the one that binds. Measured on a 6 MB Kinesis batch of
# 205,538 small events (18.8 MB of messages, ~100 MB of documents;
# docs/cost.md): 10,000 records / 16 MiB made 21 chunks (single) and 6 (aggregated), 27 and 12
# transitions per execution; 25,000 / 32 MiB make 9 and 3, 15 and 9. A 32 MiB chunk is
# 7 PutRecords calls and ~85 MB (blob + peak Python allocations, measured) of the
# put_batch Lambda's 1,024 MB; throttled
# records go back to Step Functions' backoff, so a bigger chunk does not lengthen an
# invocation beyond its calls.
MAX_RECORDS_PER_CHUNK = 25_000
MAX_CHUNK_BYTES = 32 * 1024 * 1024

# Aggregated output (LOGSTEP_OUTPUT_RECORDS=aggregated): documents are packed into KPL
# aggregated records of up to this many bytes (data + partition key). A provisioned
# stream bills a PUT payload unit per 25 KB of a record and Firehose bills ingestion in
# 5 KB steps: 25,000 bytes is one payload unit and five Firehose steps, whichever way
# "KB" is counted, and ~40 times below the 1 MiB record limit, so a record never
# approaches it. https://aws.amazon.com/kinesis/data-streams/pricing/
AGGREGATED_RECORD_BYTES = 25_000

# Execution names: 1-80 characters of [A-Za-z0-9-_].
MAX_EXECUTION_NAME_CHARS = 80

# Search delivery (LOGSTEP_DELIVERY=search): one _bulk request carries at most this many
# bytes. Amazon OpenSearch Service caps an HTTP request payload by instance type, 10 MiB
# on the smallest ones (t2/t3 small and medium, m3/r3 medium):
# https://docs.aws.amazon.com/opensearch-service/latest/developerguide/limits.html
# ("Network limits": "Maximum size of HTTP request payloads"). Half of that leaves room
# for the action lines and for clusters behind proxies with lower limits, and is in the
# 5-15 MB range Elasticsearch recommends for bulk requests
# (https://www.elastic.co/guide/en/elasticsearch/reference/current/tune-for-indexing-speed.html).
MAX_BULK_BYTES = 5 * 1024 * 1024
# ... and at most this many documents (a cluster's write queue counts items).
MAX_BULK_DOCUMENTS = 5_000
# Seconds one _bulk request may take before it counts as a (retryable) timeout; put_batch
# runs for at most 110 s (.chalice/config.json), and a chunk is a handful of requests.
BULK_TIMEOUT_SECONDS = 30
# _bulk requests one put_batch invocation keeps in flight. Lambda bills wall time and most
# of a request's time is the cluster's, so two at a time halve what the waiting costs
# (docs/cost.md); the Map runs up to 4 chunks at once, so a stage puts at most
# 8 requests per execution on the cluster. A busy cluster answers 429 and the Retry backs
# off; set 1 for a small domain.
BULK_CONCURRENCY = 2
# Search delivery chunks (Map iterations): a bulk item is small next to a Kinesis record's
# 1 MiB limit, and every chunk is billed Step Functions transitions, so search chunks are
# larger by default (LOGSTEP_MAX_RECORDS_PER_CHUNK / LOGSTEP_MAX_CHUNK_BYTES override both).
# 100,000 items / 64 MiB is ~13 bulk requests of 5 MiB: with 2 in flight, about 7 waits on
# the cluster, well inside put_batch's 110 s (and a request that could outlast the
# invocation is not started: its items wait for the Retry).
SEARCH_MAX_RECORDS_PER_CHUNK = 100_000
SEARCH_MAX_CHUNK_BYTES = 64 * 1024 * 1024
