import pytest

from moroccron.config import Settings, load_settings
from moroccron.errors import ValidationError


def test_defaults():
    s = load_settings({}, environ={})
    assert s.db == "sqlite:///moroccron.db"
    assert s.bind == "127.0.0.1:4400" and s.bind_port == 4400
    assert s.failover_timeout == 604800


def test_precedence_flags_over_env_over_file(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('db = "sqlite:///file.db"\nbind = "127.0.0.1:1"\nrun_retention = 5\njobs = ["a", "b"]\n')
    env = {"MOROCCRON_BIND": "127.0.0.1:2", "MOROCCRON_RUN_RETENTION": "7"}
    s = load_settings({"bind": "127.0.0.1:3", "config": str(cfg)}, environ=env)
    assert s.db == "sqlite:///file.db"
    assert s.bind == "127.0.0.1:3"
    assert s.run_retention == 7
    assert s.jobs == ("a", "b")


def test_errors_name_the_source():
    with pytest.raises(ValidationError, match="MOROCCRON_RUN_RETENTION"):
        load_settings({}, environ={"MOROCCRON_RUN_RETENTION": "lots"})
    with pytest.raises(ValidationError, match="bind"):
        load_settings({"bind": "nowhere"}, environ={})


def test_unknown_key_in_file(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('dbb = "x"\n')
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ={}, config_file=cfg)
    assert "dbb" in str(info.value) and "unknown setting" in str(info.value)


def test_secret_masked():
    assert Settings(secret="hunter2").public()["secret"] == "***"
    assert "hunter2" not in repr(Settings(secret="hunter2"))


def test_plugin_tables_and_webhooks_from_file_are_hidden(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        '[plugins.email]\nhost = "smtp.example.com"\npassword = "pw"\n\n'
        '[webhooks]\nops = "https://hooks.example.com/x?token=t"\n'
    )
    s = load_settings({}, environ={}, config_file=cfg)
    assert s.plugin_settings("email")["host"] == "smtp.example.com"
    assert s.plugin_settings("slack") == {}
    assert s.webhooks["ops"].endswith("token=t")
    public = s.public()
    assert public["plugins"] == {"email": "***"} and public["webhooks"] == {"ops": "***"}
    assert "pw" not in repr(s) and "token=t" not in repr(s)
    assert s.ui_url == "http://127.0.0.1:4400"


def test_log_level_checked():
    assert load_settings({}, environ={"MOROCCRON_LOG_LEVEL": "debug"}).log_level == "debug"
    with pytest.raises(ValidationError, match="log_level"):
        load_settings({}, environ={"MOROCCRON_LOG_LEVEL": "chatty"})


def test_pool_size_and_job_poll_interval_are_settings():
    s = load_settings(environ={"MOROCCRON_DB_POOL_SIZE": "20", "MOROCCRON_JOB_POLL_SECONDS": "2.5"})
    assert s.db_pool_size == 20 and s.job_poll_seconds == 2.5
    with pytest.raises(ValidationError) as err:
        load_settings(environ={"MOROCCRON_DB_POOL_SIZE": "0"})
    assert err.value.errors[0].field == "db_pool_size"


def test_every_setting_kind_comes_from_its_field():
    import dataclasses

    from moroccron import config

    assert set(config._TYPES) == {f.name for f in dataclasses.fields(Settings)}
    assert config._TYPES["zk"] is str  # str | None
    assert config._TYPES["jobs"] is tuple
    assert config._TYPES["plugins"] is dict  # Mapping[str, Mapping[str, Any]]
    assert config._TYPES["run_retention"] is int
    assert config._TYPES["failover_timeout"] is float
    assert config._TYPES["insecure"] is bool
    # a new field is settable from the environment with no second list to keep
    assert load_settings(environ={"MOROCCRON_CHRONOS_CORS_ORIGIN": "https://x"}).chronos_cors_origin == "https://x"
