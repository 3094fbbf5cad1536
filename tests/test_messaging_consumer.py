"""Consumer side: receive links, ``messaging.process`` for every message form, end to end
through moto (SQS, and SNS fanned out to SQS)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from botocore_otel import messaging
from telemetry import Telemetry

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE}-{SPAN}-01"
XRAY = f"Root=1-{TRACE[:8]}-{TRACE[8:]};Parent={SPAN};Sampled=1"


def linked_to(span) -> list[tuple[int, int]]:
    return [(link.context.trace_id, link.context.span_id) for link in span.links]


def ids(span) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


def test_sqs_end_to_end_linked(moto, session, telemetry):
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    with telemetry.tracer.start_as_current_span("producer work"):
        sqs.send_message(QueueUrl=url, MessageBody="one")
        sqs.send_message(QueueUrl=url, MessageBody="two")
    with telemetry.tracer.start_as_current_span("poll"):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        for message in messages:
            with messaging.process(message, queue_url=url, tracer_provider=telemetry.tracer_provider) as span:
                assert span.is_recording()
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    sends = {s.attributes["messaging.message.id"]: s for s in telemetry.spans("SQS.SendMessage")}
    (receive,) = telemetry.spans("SQS.ReceiveMessage")
    assert receive.attributes["messaging.batch.message_count"] == 2
    assert sorted(linked_to(receive)) == sorted(ids(s) for s in sends.values())
    (poll,) = telemetry.spans("poll")
    processes = telemetry.spans("process jobs")
    assert len(processes) == 2
    for process in processes:
        send = sends[process.attributes["messaging.message.id"]]
        assert process.kind is SpanKind.CONSUMER
        assert linked_to(process) == [ids(send)]
        assert process.parent.span_id == poll.context.span_id  # linked, not parented
        assert {
            k: process.attributes[k]
            for k in (
                "messaging.system",
                "messaging.operation.type",
                "messaging.destination.name",
                "aws.sqs.queue.url",
            )
        } == {
            "messaging.system": "aws_sqs",
            "messaging.operation.type": "process",
            "messaging.destination.name": "jobs",
            "aws.sqs.queue.url": url,
        }
    deletes = telemetry.spans("SQS.DeleteMessage")
    assert {d.parent.span_id for d in deletes} == {p.context.span_id for p in processes}


def test_sqs_end_to_end_one_trace(moto, session, telemetry):
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    with messaging.process(message, queue_url=url, parent=True, tracer_provider=telemetry.tracer_provider):
        pass
    (send,) = telemetry.spans("SQS.SendMessage")
    (process,) = telemetry.spans("process jobs")
    assert process.context.trace_id == send.context.trace_id
    assert process.parent.span_id == send.context.span_id and not process.links


@pytest.mark.parametrize("raw", [False, True])
def test_sns_to_sqs_fan_out(moto, session, telemetry, raw):
    sns, sqs = moto.client("sns", session=session), moto.client("sqs", session=session)
    topic = sns.create_topic(Name="orders")["TopicArn"]
    urls = [sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("billing", "shipping")]
    for url in urls:
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true"} if raw else {}
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    sns.publish(TopicArn=topic, Message="order 1")
    (publish,) = telemetry.spans("SNS.Publish")

    for url, name in zip(urls, ("billing", "shipping"), strict=True):
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
        if not raw:
            assert json.loads(message["Body"])["MessageAttributes"]["traceparent"]["Type"] == "String"
        with messaging.process(message, queue_url=url, tracer_provider=telemetry.tracer_provider):
            pass
        (process,) = telemetry.spans(f"process {name}")
        assert linked_to(process) == [ids(publish)]
        if not raw:
            assert process.attributes["aws.sns.topic.arn"] == topic
    receives = telemetry.spans("SQS.ReceiveMessage")
    assert all(linked_to(r) == [ids(publish)] for r in receives)


def test_lambda_sqs_record():
    telemetry = Telemetry()
    record = {
        "messageId": "m-1",
        "body": "x",
        "messageAttributes": {"traceparent": {"stringValue": TRACEPARENT, "dataType": "String"}},
        "attributes": {
            "AWSTraceHeader": "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=1"
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws-cn:sqs:cn-north-1:123456789012:jobs",
    }
    with messaging.process(record, tracer_provider=telemetry.tracer_provider):
        pass
    (span,) = telemetry.spans("process jobs")
    assert linked_to(span) == [(int(TRACE, 16), int(SPAN, 16))]  # W3C wins over X-Ray
    assert span.attributes["messaging.message.id"] == "m-1"


def test_lambda_sqs_record_with_only_the_xray_header():
    telemetry = Telemetry()
    record = {
        "messageId": "m",
        "body": "{}",
        "attributes": {"AWSTraceHeader": XRAY},
        "eventSourceARN": "arn:aws:sqs:r:1:q",
    }
    with messaging.process(record, tracer_provider=telemetry.tracer_provider):
        pass
    (span,) = telemetry.spans("process q")
    assert linked_to(span) == [(int(TRACE, 16), int(SPAN, 16))]
    assert span.links[0].context.trace_flags.sampled


def test_lambda_sns_record():
    telemetry = Telemetry()
    record = {
        "EventSource": "aws:sns",
        "Sns": {
            "MessageId": "n-1",
            "TopicArn": "arn:aws-us-gov:sns:us-gov-west-1:123456789012:alerts",
            "Message": "hi",
            "MessageAttributes": {"traceparent": {"Type": "String", "Value": TRACEPARENT}},
        },
    }
    with messaging.process(record, tracer_provider=telemetry.tracer_provider):
        pass
    (span,) = telemetry.spans("process alerts")
    assert span.attributes["messaging.system"] == "aws.sns"
    assert linked_to(span) == [(int(TRACE, 16), int(SPAN, 16))]


def test_eventbridge_event_with_a_trace_header():
    telemetry = Telemetry()
    event = {"version": "0", "id": "e-1", "detail-type": "t", "source": "app", "detail": {}}
    with messaging.process(
        event, destination="orders-bus", trace_header=XRAY, tracer_provider=telemetry.tracer_provider
    ):
        pass
    (span,) = telemetry.spans("process orders-bus")
    assert linked_to(span) == [(int(TRACE, 16), int(SPAN, 16))]
    assert span.attributes["messaging.message.id"] == "e-1"


def test_a_body_nested_too_deeply_costs_only_its_own_message_its_link(moto, session, telemetry):
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    with telemetry.tracer.start_as_current_span("producer work"):
        sqs.send_message(
            QueueUrl=url, MessageBody='{"TopicArn": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}"
        )
        sqs.send_message(QueueUrl=url, MessageBody="normal")
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 2
    (receive,) = telemetry.spans("SQS.ReceiveMessage")
    assert sorted(linked_to(receive)) == sorted(ids(s) for s in telemetry.spans("SQS.SendMessage"))


def test_a_boto3_resource_message_is_read_like_the_clients_dict(moto, session, telemetry):
    url = moto.client("sqs", session=session).create_queue(QueueName="resource")["QueueUrl"]
    queue = session.resource("sqs", **moto.client_kwargs("sqs")).Queue(url)
    queue.send_message(MessageBody="one")
    (message,) = queue.receive_messages()
    with messaging.process(message, tracer_provider=telemetry.tracer_provider):
        pass
    (process,) = telemetry.spans("process resource")
    (send,) = telemetry.spans("SQS.SendMessage")
    assert linked_to(process) == [ids(send)]
    assert process.attributes["messaging.message.id"] == message.message_id
    assert process.attributes["aws.sqs.queue.url"] == url


def test_errors_are_recorded_and_raised_and_bad_messages_never_raise():
    telemetry = Telemetry()
    with (
        pytest.raises(KeyError),
        messaging.process(
            {"MessageId": "m", "Body": "{"}, destination="q", tracer_provider=telemetry.tracer_provider
        ),
    ):
        raise KeyError("boom")
    (span,) = telemetry.spans("process q")
    assert span.status.status_code is StatusCode.ERROR and span.events[0].name == "exception"
    # An AWS call of the block failed to connect: its error quotes the url, query string included.
    quoted = 'Could not connect to the endpoint URL: "http://u:p@ss@127.0.0.1:1/v2/autocomplete?key=SECRET#x"'
    with (
        pytest.raises(OSError),
        messaging.process({}, destination="u", tracer_provider=telemetry.tracer_provider),
    ):
        raise OSError(quoted)
    (failed,) = telemetry.spans("process u")
    (event,) = failed.events
    assert event.attributes["exception.message"].endswith('"http://127.0.0.1:1/v2/autocomplete"')
    assert (
        event.attributes["exception.type"] == "OSError"
        and "OSError" in event.attributes["exception.stacktrace"]
    )
    exported = repr((failed.status.description, dict(event.attributes)))
    assert "SECRET" not in exported and "ss@" not in exported and "u:p" not in exported
    for junk in ({"MessageAttributes": "nope", "Attributes": 3}, {"Sns": {"TopicArn": 5}}, {"messageId": 1}):
        with messaging.process(junk, tracer_provider=telemetry.tracer_provider) as span:
            assert span.is_recording()


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Root=1-abc",
        f"Root=1-{TRACE[:8]}-{TRACE[8:]}",
        f"Root=2-{TRACE[:8]}-{TRACE[8:]};Parent={SPAN}",
        "Parent=zz",
    ],
)
def test_bad_xray_headers(header):
    assert messaging.parse_xray_header(header) is None


@pytest.mark.parametrize("opted_in", [False, True])
def test_the_producers_baggage_is_current_in_the_block_only_when_asked(moto, telemetry, opted_in):
    import boto3
    from opentelemetry import baggage, context

    from botocore_otel import Instrumentor

    session = boto3.session.Session()
    Instrumentor().instrument(session, **telemetry.providers, baggage=True)
    sqs = moto.client("sqs", session=session)
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    token = context.attach(baggage.set_baggage("tenant", "t-1"))
    try:
        sqs.send_message(QueueUrl=url, MessageBody="one")
    finally:
        context.detach(token)
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert message["MessageAttributes"]["baggage"]["StringValue"] == "tenant=t-1"
    local = {"tenant": "local", "region": "eu"}
    token = context.attach(baggage.set_baggage("tenant", "local", baggage.set_baggage("region", "eu")))
    provider = telemetry.tracer_provider
    try:
        for parent in (False, True):
            options = {"queue_url": url, "parent": parent, "baggage": opted_in, "tracer_provider": provider}
            with messaging.process(message, **options):
                seen = baggage.get_all()
            assert seen == ({**local, "tenant": "t-1"} if opted_in else local)
        assert baggage.get_all() == local  # put back after the block
    finally:
        context.detach(token)
    Instrumentor().uninstrument(session)
    (send,) = telemetry.spans("SQS.SendMessage")
    linked, parented = telemetry.spans("process jobs")
    assert linked_to(linked) == [ids(send)] and parented.parent.span_id == send.context.span_id
