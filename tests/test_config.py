"""Settings: defaults, TOML file, environment, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from retain.config import ActionConfig, CampaignConfig, Settings, get_settings
from retain.errors import ConfigError


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in (
        "RETAIN_DATA_DIR",
        "RETAIN_STORE_URL",
        "RETAIN_CONFIG",
        "RETAIN_INGEST__BATCH_SIZE",
        "RETAIN_CURRENCY",
    ):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()


def test_defaults(tmp_path: Path) -> None:
    s = Settings()
    assert s.data_dir == Path("retain-data") and s.ingest.batch_size == 100_000
    assert s.resolved_store_url == f"duckdb:///{tmp_path / 'retain-data' / 'retain.duckdb'}"


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "retain.toml").write_text('data_dir = "from-file"\n[ingest]\nbatch_size = 500\n')
    assert Settings().data_dir == Path("from-file") and Settings().ingest.batch_size == 500
    monkeypatch.setenv("RETAIN_INGEST__BATCH_SIZE", "700")
    assert Settings().ingest.batch_size == 700


def test_invalid_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIN_INGEST__BATCH_SIZE", "0")
    with pytest.raises(
        ConfigError, match=r"ingest.batch_size: Input should be greater than or equal to 1"
    ):
        get_settings()


def test_the_shops_currency_is_an_iso_code(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().currency is None
    assert Settings(currency=" cny ").currency == "CNY"
    monkeypatch.setenv("RETAIN_CURRENCY", "yuan")
    with pytest.raises(ConfigError, match=r"currency: .*'yuan' is not an ISO 4217 currency code"):
        get_settings()


def test_example_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[1] / "retain.example.toml"
    monkeypatch.setenv("RETAIN_CONFIG", str(example))
    assert Settings().ingest.future_tolerance_seconds == 300


def test_the_example_campaign_actions_parse_and_say_what_the_defaults_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Uncommenting the example's [campaign] block gives actions the policy can plan with."""
    from retain.retention.policy import DEFAULT_ACTIONS

    example = (Path(__file__).resolve().parents[1] / "retain.example.toml").read_text()
    section = example.split("[campaign]\n", 1)[1].split("\n[", 1)[0]
    lines = [line.removeprefix("# ") for line in section.splitlines() if line.startswith("# ")]
    body = "\n".join(line for line in lines if "=" in line or line.startswith("[["))
    (tmp_path / "retain.toml").write_text("[campaign]\n" + body + "\n")
    actions = {a.name: a for a in get_settings().campaign.to_actions()}
    assert actions["coupon_40"].cost_if_used == 40.0 and actions["coupon_40"].family == "coupon"
    built_in = {a.name: a for a in DEFAULT_ACTIONS}
    for name in ("recommendation_message", "care_contact"):
        assert actions[name] == built_in[name]  # the example states the defaults exactly
    assert Settings().campaign.to_actions() is not DEFAULT_ACTIONS
    (tmp_path / "retain.toml").write_text("")
    assert Settings().campaign.to_actions() is DEFAULT_ACTIONS


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ('{ name = "a", max_uplift = 0.1 }, { name = "a", max_uplift = 0.2 }',
         "campaign.actions: Value error, each action needs its own name; repeated: a"),
        ('{ name = "a", max_uplift = 1.5 }', "campaign.actions.0.max_uplift: Input should be less"),
        ('{ name = "a", max_uplift = 0.1, cost = 3 }', "campaign.actions.0.cost: Extra inputs"),
        ('{ name = "a b", max_uplift = 0.1 }', "campaign.actions.0.name: String should match"),
        ('{ name = "a" }', "campaign.actions.0.max_uplift: Field required"),
        ("", "campaign.actions: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_bad_campaign_actions_name_the_setting(tmp_path: Path, actions: str, message: str) -> None:
    (tmp_path / "retain.toml").write_text(f"[campaign]\nactions = [{actions}]\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        get_settings()


def test_a_campaign_narrowed_to_some_actions_keeps_their_configured_order() -> None:
    shop = CampaignConfig(
        actions=[
            ActionConfig(name="sms", fixed_cost=0.1, max_uplift=0.02),
            ActionConfig(name="coupon_20", cost_if_used=20, max_uplift=0.1, kind="coupon"),
            ActionConfig(name="coupon_60", cost_if_used=60, max_uplift=0.2, kind="coupon"),
        ]
    )
    assert [a.name for a in shop.to_actions(["coupon_60", "sms"])] == ["sms", "coupon_60"]
    assert [a.name for a in shop.to_actions()] == ["sms", "coupon_20", "coupon_60"]
    with pytest.raises(ValueError, match="no action 'coupon_5'; the configured actions are sms, "):
        shop.to_actions(["coupon_5", "sms"])
    with pytest.raises(ValueError, match="name at least one action"):
        shop.to_actions([])
    assert [a.name for a in CampaignConfig().to_actions(["care_contact"])] == ["care_contact"]
