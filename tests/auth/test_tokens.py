from __future__ import annotations

import time

import pytest

from timewell.auth import (
    CannotDeleteOperatorToken,
    OperatorTokenExists,
    TokenFile,
    TokenNotFound,
    Tokens,
    token_hash,
)
from timewell.catalog import Catalog
from timewell.catalog.persistence import CatalogLog
from timewell.errors import AlreadyExists, InvalidRequest
from timewell.storage.objectstore import ObjectStore


def tokens_on(store: ObjectStore, every: int = 100) -> Tokens:
    return Tokens(Catalog.load(CatalogLog(store, "node", checkpoint_every=every)))


def test_admin_token_is_random_verified_and_only_created_once():
    tokens = tokens_on(ObjectStore.memory())
    issued = tokens.create_admin()
    assert issued.text.startswith("apiv3_") and len(issued.text) == 6 + 86  # 64 bytes base64
    assert tokens.verify(issued.text).name == "_admin"
    assert tokens.verify(issued.text.encode()).name == "_admin"
    assert tokens.verify(issued.text + "x") is None
    assert tokens.verify("") is None
    with pytest.raises(OperatorTokenExists):
        tokens.create_admin()
    assert tokens.create_named_admin("other", None).text != issued.text


def test_only_hashes_are_stored_and_tokens_survive_reload(tmp_path):
    store = ObjectStore.file(tmp_path)
    tokens = tokens_on(store, every=2)
    admin = tokens.create_admin()
    named = tokens.create_named_admin("ci", 3600)
    tokens.create_named_admin("gone", None)
    tokens.delete("gone")
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for issued in (admin, named):
        assert issued.text.encode() not in stored
        assert token_hash(issued.text).hex().encode() in stored
    reloaded = tokens_on(store, every=2)
    assert reloaded.verify(admin.text).name == "_admin"
    assert reloaded.verify(named.text).expiry_ms == named.definition.expiry_ms
    assert [t.name for t in _rows(reloaded)] == ["_admin", "ci"]


def test_regenerate_revokes_the_old_operator_token():
    tokens = tokens_on(ObjectStore.memory())
    with pytest.raises(TokenNotFound):
        tokens.regenerate_admin()
    old = tokens.create_admin()
    new = tokens.regenerate_admin()
    assert tokens.verify(old.text) is None
    assert tokens.verify(new.text).id == old.definition.id


def test_expired_and_deleted_tokens_stop_working(monkeypatch):
    tokens = tokens_on(ObjectStore.memory())
    issued = tokens.create_named_admin("short", 60)
    assert tokens.verify(issued.text) is not None
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert tokens.verify(issued.text) is None
    monkeypatch.undo()
    tokens.delete("short")
    assert tokens.verify(issued.text) is None
    with pytest.raises(TokenNotFound):
        tokens.delete("short")


def test_names_and_expiry_are_checked():
    tokens = tokens_on(ObjectStore.memory())
    tokens.create_admin()
    for bad in ["", "  ", "_admin", "a\nb", "x" * 201]:
        with pytest.raises(InvalidRequest):
            tokens.create_named_admin(bad, None)
    for bad in [0, -5, 1.5, "10", True]:
        with pytest.raises(InvalidRequest):
            tokens.create_named_admin("t", bad)
    tokens.create_named_admin("t", 10)
    with pytest.raises(AlreadyExists):
        tokens.create_named_admin("t", None)
    with pytest.raises(CannotDeleteOperatorToken):
        tokens.delete("_admin")


def test_system_table_never_shows_hashes():
    tokens = tokens_on(ObjectStore.memory())
    tokens.create_admin()
    table = tokens.table("any")
    assert table.column_names == ["token_id", "name", "created_at", "description", "expiry",
                                  "permissions"]


def test_token_file_presets_a_token(tmp_path):
    text = "apiv3_" + "A" * 86
    json_file = tmp_path / "admin.json"
    json_file.write_text(f'{{"token": "{text}", "name": "_admin"}}')
    plain_file = tmp_path / "plain"
    plain_file.write_text(text + "\n")
    assert TokenFile.read(json_file) == TokenFile.read(plain_file) == TokenFile(text)
    tokens = tokens_on(ObjectStore.memory())
    tokens.preset(TokenFile.read(json_file))
    assert tokens.verify(text).name == "_admin"
    with pytest.raises(OperatorTokenExists):
        tokens.create_admin()
    for content in ["", "not a token", "{", '{"token": 5}', '{"token": "apiv3_x"}']:
        json_file.write_text(content)
        with pytest.raises(ValueError):
            TokenFile.read(json_file)
    with pytest.raises(ValueError):
        TokenFile.read(tmp_path / "missing")


def _rows(tokens: Tokens):
    from types import SimpleNamespace

    return [SimpleNamespace(**row) for row in tokens.table("any").to_pylist()]
