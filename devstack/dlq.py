"""``python -m devstack dlq``: what the local stack's dead-letter queues hold, and redrive.

    python -m devstack dlq                    # every unit's DLQ: count, then each message
    python -m devstack dlq --redrive booking  # move booking's DLQ messages back to its queue
    python -m devstack dlq --redrive all

It talks to the running stack's moto server (the endpoint ``make run`` wrote to
``.devstack/endpoint``, or ``--endpoint``). Redrive moves each message back to its source queue
(a new send, then a delete from the DLQ), as SQS's own redrive does; the consumer must be fixed
first or the message comes straight back.
"""

from __future__ import annotations

import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINT_FILE = os.path.join(ROOT, ".devstack", "endpoint")


def write_endpoint(url: str) -> None:
    os.makedirs(os.path.dirname(ENDPOINT_FILE), exist_ok=True)
    with open(ENDPOINT_FILE, "w") as f:
        f.write(url)


def _queues(sqs, stage: str) -> dict[str, tuple[str, str]]:
    """unit → (queue url, dlq url) for every queue pair of the stage."""
    prefix = f"suizhen-{stage}-"
    urls = sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    out = {}
    for url in urls:
        name = url.rsplit("/", 1)[1]
        if name.endswith("-events-dlq"):
            unit = name[len(prefix):-len("-events-dlq")]
            source = url[: -len("-dlq")]
            if source in urls:
                out[unit] = (source, url)
    return out


def show(sqs, stage: str, out=print) -> dict[str, int]:
    counts = {}
    for unit, (_, dlq) in sorted(_queues(sqs, stage).items()):
        n = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                ["Attributes"]["ApproximateNumberOfMessages"])
        counts[unit] = n
        out(f"{unit:14} {n} message(s) in {dlq.rsplit('/', 1)[1]}")
        if n:
            # Peek without consuming: a zero visibility timeout leaves each message where it is.
            msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       AttributeNames=["All"]).get("Messages", [])
            for m in msgs:
                body = json.loads(m["Body"])
                out(f"    {body.get('type')}  event {body.get('event_id')}  "
                    f"received {m.get('Attributes', {}).get('ApproximateReceiveCount', '?')}×")
    return counts


def redrive(sqs, stage: str, unit: str, out=print) -> int:
    moved = 0
    for name, (source, dlq) in sorted(_queues(sqs, stage).items()):
        if unit not in ("all", name):
            continue
        while True:
            msgs = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                sqs.send_message(QueueUrl=source, MessageBody=m["Body"])
                sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
        out(f"{name}: redriven to {source.rsplit('/', 1)[1]}")
    return moved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack dlq", description=__doc__.split("\n\n")[0])
    p.add_argument("--redrive", metavar="UNIT", help="a unit (see the list) or 'all'")
    p.add_argument("--endpoint", help="moto server URL (default: the running stack's)")
    p.add_argument("--stage", default="dev")
    args = p.parse_args(argv)
    endpoint = args.endpoint or (open(ENDPOINT_FILE).read().strip() if os.path.exists(ENDPOINT_FILE) else None)
    if not endpoint:
        raise SystemExit("no running local stack found (start it with `make run`, or pass --endpoint)")
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="cn-north-1",
                       aws_access_key_id="devstack", aws_secret_access_key="devstack")
    if args.redrive:
        print(f"moved {redrive(sqs, args.stage, args.redrive)} message(s)")
    show(sqs, args.stage)
    return 0
