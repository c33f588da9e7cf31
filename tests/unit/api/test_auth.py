"""Bearer tokens: the configuration format, and who a token is."""

from __future__ import annotations

import pytest

from arena.api.auth import TokenAuth, new_token, token_hash
from arena.config import Settings
from arena.errors import ConfigError


def test_a_token_is_known_by_its_hash_only() -> None:
    token = new_token()
    settings = Settings(api={"tokens": f"alice:operator:{token_hash(token)}"})
    auth = TokenAuth(settings.api.parsed_tokens())

    caller = auth.identify(token)

    assert caller is not None and (caller.name, caller.role) == ("alice", "operator")
    assert auth.identify(token_hash(token)) is None  # the hash itself is no token
    assert auth.identify(new_token()) is None


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("alice:operator", "is not name:role:sha256hex"),
        (f"alice:root:{'a' * 64}", "the role must be one of viewer, operator"),
        ("alice:viewer:abc", "64 hex characters"),
        (f"a:viewer:{'a' * 64},a:operator:{'b' * 64}", "given twice"),
    ],
)
def test_a_bad_token_entry_stops_the_start_naming_the_variable(entry: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match="ARENA_API_TOKENS") as refused:
        Settings(api={"tokens": entry})
    assert complaint in str(refused.value)
