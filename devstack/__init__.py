"""The local stack behind ``make run``: what AWS would run, on this machine.

moto server (DynamoDB, S3, SNS, SQS, SSM over HTTP) · ``chalice local`` · the scheduler tick
(EventBridge → ``timer_sweep``) · the outbox relay, topic, per-unit queues with DLQs and their
pollers (``devstack/queues.py``; ``python -m devstack dlq``)
· the sandbox WeChat Pay provider · demo data.
"""
