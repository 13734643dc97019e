"""zk:// URLs: credentials parsed (percent-decoded), turned into digest auth and an ACL,
and never shown: in errors, in settings, in the Mesos master spec."""

from __future__ import annotations

import hashlib
from base64 import b64encode

import pytest
from kazoo.security import ACL, Id, Permissions

from moroccron.config import Settings, load_settings
from moroccron.errors import ValidationError
from moroccron.ha import Leadership
from moroccron.mesos.detect import MasterSpec, parse_spec, redact
from moroccron.zk import ZkUrl, acl, parse_zk_url


def digest(user: str, password: str) -> str:
    """ZooKeeper's digest identity: ``user:base64(sha1("user:password"))``."""
    return f"{user}:{b64encode(hashlib.sha1(f'{user}:{password}'.encode()).digest()).decode()}"


def test_credentials_are_percent_decoded_and_become_digest_auth():
    url = parse_zk_url("zk://mo%72occron:p%40ss%2Fw0rd%25:x@zk1:2181,zk2:2181/moroccron/prod/")
    assert (url.hosts, url.path, url.user, url.password) == (
        "zk1:2181,zk2:2181",
        "/moroccron/prod",
        "moroccron",
        "p@ss/w0rd%:x",
    )
    assert url.auth_data == [("digest", "moroccron:p@ss/w0rd%:x")]
    # a raw "@" and ":" in the password work too: the hosts never hold "@"
    raw = parse_zk_url("zk://u:a@b:c@zk1:2181/p")
    assert (raw.user, raw.password, raw.hosts) == ("u", "a@b:c", "zk1:2181")


def test_the_acl_gives_everything_to_the_credentials_and_read_to_anyone():
    url = parse_zk_url("zk://moroccron:s3cret@zk1:2181/m")
    assert url.acl() == [
        ACL(Permissions.ALL, Id("digest", digest("moroccron", "s3cret"))),
        ACL(Permissions.READ, Id("world", "anyone")),
    ]
    # without credentials: open, as before (and a warning at start, see tests/ha/test_zk_trust.py)
    assert acl(None, None) == [ACL(Permissions.ALL, Id("world", "anyone"))]
    assert parse_zk_url("zk://zk1:2181/m").auth_data is None


def test_credentials_are_never_shown():
    url = parse_zk_url("zk://moroccron:s3cret@zk1:2181/m")
    assert str(url) == "zk://***@zk1:2181/m" and "s3cret" not in repr(url)
    assert str(ZkUrl("zk1:2181", "/m")) == "zk://zk1:2181/m"
    # a raw "/" in a password must not leak through the redaction either
    assert redact("zk://u:pa/ss@zk1:2181/m") == "zk://***@zk1:2181/m"
    settings = Settings(zk="zk://moroccron:s3cret@zk1/m", master="zk://mesos:hunter2@zk1/mesos")
    assert "s3cret" not in repr(settings) and "hunter2" not in repr(settings)
    public = settings.public()
    assert public["zk"] == "zk://***@zk1/m" and public["master"] == "zk://***@zk1/mesos"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("zk://moroccron@zk1:2181/m", "USER:PASSWORD"),
        ("zk://:s3cret@zk1:2181/m", "USER:PASSWORD"),
        ("zk://moroccron:@zk1:2181/m", "USER:PASSWORD"),
        ("zk://a%3Ab:s3cret@zk1:2181/m", "cannot contain ':'"),
        ("zk://moroccron:s3/cret@zk1:2181/m", "%2F"),
        ("zk://moroccron:s3cret@zk1:2181", "needs hosts and a path"),
        ("http://moroccron:s3cret@zk1:2181/m", "must be a zk:// URL"),
    ],
)
def test_bad_urls_name_the_field_and_hide_the_password(url, problem):
    with pytest.raises(ValidationError) as info:
        parse_zk_url(url)
    error = info.value.errors[0]
    assert error.field == "zk" and problem in error.message and "allowed" not in error.message
    assert "s3cret" not in str(info.value) and "s3" not in str(info.value)
    assert "USER:PASSWORD" in (error.allowed or "")
    with pytest.raises(ValidationError):  # the same check where the election is set up
        Leadership(url, "127.0.0.1:4400", "i", on_elected=lambda: None, on_lost=lambda _r: None)


def test_the_mesos_master_spec_decodes_and_hides_credentials_too():
    spec = parse_spec("zk://mesos:p%40ss%3Aword@zk1,zk2:2182/mesos")
    assert spec.zk_auth == "mesos:p@ss:word" and spec.zk_hosts == "zk1:2181,zk2:2182"
    assert str(spec) == "zk://***@zk1:2181,zk2:2182/mesos" and "p@ss" not in repr(spec)
    assert spec == MasterSpec(kind="zk", zk_hosts="zk1:2181,zk2:2182", zk_path="/mesos", zk_auth="mesos:p@ss:word")
    from moroccron.mesos.detect import MasterDetectionError

    with pytest.raises(MasterDetectionError) as info:
        parse_spec("zk://mesos@zk1:2181/mesos")
    assert "USER:PASSWORD" in str(info.value) and "zk://***@zk1:2181/mesos" in str(info.value)


def test_peers_must_be_host_port():
    assert load_settings({"peers": "10.0.0.11:4400,10.0.0.12:4400"}, environ={}).peers == (
        "10.0.0.11:4400",
        "10.0.0.12:4400",
    )
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ={"MOROCCRON_PEERS": "10.0.0.11:4400,10.0.0.12"})
    error = info.value.errors[0]
    assert error.field == "peers" and error.value == "10.0.0.12" and "HOST:PORT" in error.message


def test_one_parser_for_every_zk_url():
    from moroccron.address import host_port, split_host_port
    from moroccron.mesos.local.master import _parse_zk_url
    from moroccron.zk import read_zk_url

    url = read_zk_url("zk://u:p%2Fw@zk1,zk2:2182/mesos/")
    assert (url.hosts, url.path, url.user, url.password) == ("zk1,zk2:2182", "/mesos", "u", "p/w")
    # the Mesos master spec reads the same URL, with the default port added
    spec = parse_spec("zk://u:p%2Fw@zk1,zk2:2182/mesos/")
    assert (spec.zk_hosts, spec.zk_path, spec.zk_auth) == ("zk1:2181,zk2:2182", "/mesos", "u:p/w")
    # and so does the local master's registration, whose error never shows the password
    assert _parse_zk_url("zk://zk1:2181/m").path == "/m"
    with pytest.raises(ValueError, match=r"needs hosts and a path") as info:
        _parse_zk_url("zk://u:secret@zk1:2181")
    assert "secret" not in str(info.value)
    with pytest.raises(ValueError, match="must be a zk:// URL"):
        read_zk_url("http://zk1/x")
    assert host_port("[::1]", 5050) == "[::1]:5050"
    assert host_port("::1", 5050) == "[::1]:5050"
    assert host_port("m1", 5050) == "m1:5050"
    assert split_host_port("[::1]:4400") == ("::1", 4400)
    for bad in ("4400", ":4400", "h:x", "h:70000"):
        with pytest.raises(ValueError):
            split_host_port(bad)
