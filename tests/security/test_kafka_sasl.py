"""Kafka in production is authenticated: a broker with a SASL_PLAINTEXT SCRAM-SHA-512 listener
(the local Kafka jars, its own ports and data), a service working through it with its own
principal, and a client without credentials (or with a wrong password) refused."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from hotline_cli.processes import free_port
from hotline_shared.events import CONTACTS_TOPIC
from hotline_shared.ids import contact_id_for
from hotline_shared.settings import KafkaSettings

from tests.integration.intake.test_telephony import post_twilio
from tests.support import STATE, ServiceProcess, unique, wait_until
from tests.unit.intake import sequences as seq

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIBS = STATE / "kafka-libs"
USERS = {"admin": "admin-secret-0123", "hotline-intake": "intake-secret-0123"}


def java(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["java", "-cp", f"{LIBS}/*", *args], capture_output=True, text=True,
                          check=True, timeout=120, **kwargs)  # type: ignore[call-overload]  # fmt: skip


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node KRaft broker whose client listener takes only SCRAM-SHA-512."""
    assert LIBS.is_dir(), "the local Kafka jars (make up resolves them)"
    tmp = Path(tmp_path_factory.mktemp("sasl-kafka"))
    port, controller = free_port(), free_port()
    admin = USERS["admin"]
    props = tmp / "server.properties"
    props.write_text("\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        "sasl.enabled.mechanisms=SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{admin}";',
        "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0",
        f"log.dirs={tmp / 'data'}", "",
    ]))  # fmt: skip
    cluster = java("kafka.tools.StorageTool", "random-uuid").stdout.strip()
    scram = [a for user, password in USERS.items()
             for a in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")]  # fmt: skip
    java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(props), *scram)
    log = (tmp / "kafka.log").open("wb")
    broker = subprocess.Popen(
        ["java", "-Xms128m", "-Xmx384m", "-cp", f"{LIBS}/*", "kafka.Kafka", str(props)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        asyncio.run(_until_it_answers(port))
        yield f"127.0.0.1:{port}"
    finally:
        broker.terminate()
        broker.wait(timeout=60)
        log.close()


async def _until_it_answers(port: int) -> None:
    async def answers() -> bool:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await wait_until(answers, timeout=90, what="the SASL broker")


def scram(bootstrap: str, user: str, password: str, prefix: str = "") -> KafkaSettings:
    return KafkaSettings(bootstrap=bootstrap, security_protocol="SASL_PLAINTEXT",
                         sasl_username=user, sasl_password=password, topic_prefix=prefix)  # fmt: skip


def test_sasl_settings_need_credentials() -> None:
    with pytest.raises(ValueError, match="SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_SSL")


async def test_a_service_works_through_scram_and_strangers_are_refused(
    sasl_broker: str, tmp_path: Path
) -> None:
    prefix = unique("t")
    service = ServiceProcess("intake", {
        "HOTLINE_KAFKA_BOOTSTRAP": sasl_broker, "HOTLINE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "HOTLINE_KAFKA_SASL_USERNAME": "hotline-intake",
        "HOTLINE_KAFKA_SASL_PASSWORD": USERS["hotline-intake"],
        "HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.", "HOTLINE_KAFKA_REPLICATION_FACTOR": "1",
        "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_"}, tmp_path)  # fmt: skip
    service.start()
    try:
        await service.wait_ready()
        sid = unique("CA")
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            for form in seq.twilio_answered(sid):
                assert (await post_twilio(client, form)).status_code == 200
    finally:
        service.stop()
    reader = scram(sasl_broker, "admin", USERS["admin"], f"{prefix}.")
    consumer = AIOKafkaConsumer(f"{prefix}.{CONTACTS_TOPIC}", **reader.client_options(),
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=20_000, max_records=50)
    finally:
        await consumer.stop()
    keys = {r.key for records in batch.values() for r in records}
    assert contact_id_for("center-01", "twilio", sid).encode() in keys
    assert all(
        json.loads(r.value)["source"] == "hotline/intake" for rs in batch.values() for r in rs
    )

    for options in (
        {"bootstrap_servers": sasl_broker},  # no credentials at all
        scram(sasl_broker, "hotline-intake", "wrong-password-000").client_options(),
    ):
        stranger = AIOKafkaProducer(**options, request_timeout_ms=5000)
        with pytest.raises((KafkaError, asyncio.TimeoutError, OSError)):
            await asyncio.wait_for(stranger.start(), timeout=30)
            await stranger.send_and_wait(f"{prefix}.{CONTACTS_TOPIC}", b"forged")
        await stranger.stop()
