"""The local stack behind ``make run``: what AWS would run, on this machine.

moto server (DynamoDB, S3, SNS, SQS, SSM over HTTP) · ``chalice local`` · the scheduler tick
(EventBridge → ``timer_sweep``) · the outbox dispatcher (DynamoDB Stream → ``outbox_dispatch``)
· the sandbox WeChat Pay provider · demo data.
"""
