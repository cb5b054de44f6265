"""The backup sidecar over real mTLS against a real mariadbd and mariadb-backup."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fixtures.servers import PASSWORD_ENV
from shardkeeper.contracts.common import CredentialRef, DatabaseCredentials, Instance, Role
from shardkeeper.control.stack.mariadb import MariaDBCluster
from shardkeeper.datapath.backup.sidecar import SidecarConfig, SidecarServer, open_backup_stream
from shardkeeper.errors import EndpointUnavailable, EngineFailed


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def _issue(directory: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
           | None, *, ca: bool = False, server: bool = False
           ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer[0].subject if issuer else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=1))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    _write(directory / name, cert, key)
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, the sidecar's server certificate, a client it signed and a stranger."""
    d = tmp_path_factory.mktemp("pki")
    authority = _issue(d, "ca", None, ca=True)
    _issue(d, "server", authority, server=True)
    _issue(d, "client", authority)
    _issue(d, "stranger", None)  # self-signed: not from the sidecar's client CA
    return d


def _sidecar(pki: Path, instance: Instance) -> Iterator[str]:
    config = SidecarConfig(
        instance=instance,
        credentials=DatabaseCredentials(user="root", password=CredentialRef(env=PASSWORD_ENV)),
        cert=pki / "server.crt", key=pki / "server.key", client_ca=pki / "ca.crt")
    server = SidecarServer(("127.0.0.1", 0), config)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sidecar(pki: Path, mariadb_cluster: MariaDBCluster) -> Iterator[str]:
    """A sidecar in front of a real replica's socket."""
    replica = mariadb_cluster.replicas("customer", "-80")[0]
    yield from _sidecar(pki, Instance(name=replica.name, role=Role.REPLICA,
                                      socket=str(replica.socket)))


def test_a_backup_streams_over_mtls_and_is_a_real_backup(
    sidecar: str, pki: Path, tmp_path: Path
) -> None:
    with open_backup_stream(sidecar, pki / "ca.crt", pki / "client.crt", pki / "client.key",
                            replica=True) as stream:
        body = stream.read()
        status = stream.completed()
    assert status["ok"] and status["returncode"] == 0
    assert len(body) > 1024 * 1024
    target = tmp_path / "x"
    target.mkdir()
    subprocess.run(["mbstream", "-x", "-C", str(target)], input=body, check=True)
    assert (target / "xtrabackup_slave_info").exists(), "replica options reached the engine"
    assert (target / "xtrabackup_checkpoints").exists()


def test_a_client_without_a_certificate_from_the_ca_is_refused(
    sidecar: str, pki: Path
) -> None:
    with pytest.raises(EndpointUnavailable):
        open_backup_stream(sidecar, pki / "ca.crt", pki / "stranger.crt",
                           pki / "stranger.key").read()


def test_a_failing_engine_is_reported_even_after_bytes_were_streamed(
    pki: Path, mariadb_cluster: MariaDBCluster, tmp_path: Path
) -> None:
    wrong = Instance(name="nowhere", role=Role.PRIMARY, socket=str(tmp_path / "no.sock"))
    for url in _sidecar(pki, wrong):
        with open_backup_stream(url, pki / "ca.crt", pki / "client.crt",
                                pki / "client.key") as stream:
            stream.read()
            with pytest.raises(EngineFailed, match="engine failed") as info:
                stream.completed()
        assert mariadb_cluster.password not in str(info.value)
