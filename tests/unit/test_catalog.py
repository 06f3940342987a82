"""The model catalog agrees with the SDK, resolves every id clients send, and rejects bad files."""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from typing import Any

import pytest
import yaml
from anthropic._constants import MODEL_NONSTREAMING_TOKENS
from anthropic.resources.messages.messages import DEPRECATED_MODELS
from anthropic.types import Model, ModelCapabilities, ModelInfo, ModelParam
from pydantic import BaseModel

from mockserver.protocol.catalog import (
    CAPABILITY_SHAPE,
    THINKING_TYPES,
    CatalogError,
    ModelCatalog,
    ModelEntry,
)
from mockserver.protocol.platforms import vertex_model

# Ids that seed docs and real recordings send, beyond the SDK's Model literal.
OLDER_IDS = [
    "claude-3-haiku-20240307",
    "claude-3-opus-20240229",
    "claude-3-sonnet-20240229",
    "claude-3-5-sonnet-20240620",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
    "claude-3-5-haiku-latest",
    "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-0",
    "claude-opus-4-20250514",
    "claude-opus-4-1-20250805",
    "claude-opus-4-1",
    "claude-sonnet-4-5-20250929",
    "claude-2.1",
    "claude-2.0",
    "claude-instant-1.2",
]


def _literal_ids(alias: Any) -> list[str]:
    (literal,) = [arg for arg in typing.get_args(alias) if typing.get_origin(arg) is typing.Literal]
    return list(typing.get_args(literal))


SDK_IDS = sorted(set(_literal_ids(Model)) | set(_literal_ids(ModelParam)))


@pytest.fixture(scope="module")
def catalog() -> ModelCatalog:
    return ModelCatalog.load()


def _sdk_shape(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """The SDK type's fields as nested (name, bool | subshape) pairs, in declaration order."""
    shape: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        shape.append((name, bool if annotation is bool else _sdk_shape(annotation)))
    return shape


def _our_shape(shape: typing.Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(name, bool if sub is bool else _our_shape(sub)) for name, sub in shape.items()]


def _shape_paths(shape: list[tuple[str, Any]], prefix: str = "") -> set[str]:
    """Dotted paths of every key a shape declares, e.g. ``thinking.types.adaptive.supported``."""
    paths = set()
    for name, sub in shape:
        paths.add(prefix + name)
        if sub is not bool:
            paths |= _shape_paths(sub, f"{prefix}{name}.")
    return paths


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every key present in a JSON object."""
    if not isinstance(value, dict):
        return set()
    return {f"{prefix}{key}" for key in value} | {
        path for key, sub in value.items() for path in _keys(sub, f"{prefix}{key}.")
    }


# --- agreement with the SDK ----------------------------------------------------------------


def test_capability_shape_is_the_sdk_model_capabilities() -> None:
    assert _our_shape(CAPABILITY_SHAPE) == _sdk_shape(ModelCapabilities)


@pytest.mark.parametrize("model_id", SDK_IDS)
def test_every_sdk_model_id_resolves(catalog: ModelCatalog, model_id: str) -> None:
    assert catalog.resolve(model_id) is not None


@pytest.mark.parametrize("model_id", OLDER_IDS)
def test_seed_and_recording_ids_resolve(catalog: ModelCatalog, model_id: str) -> None:
    assert catalog.resolve(model_id) is not None


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-opus-4-5", "claude-opus-4-5-20251101"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4-1", "claude-opus-4-1-20250805"),
        ("claude-opus-4-0", "claude-opus-4-20250514"),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"),
    ],
)
def test_aliases_resolve_to_canonical_id(catalog: ModelCatalog, alias: str, canonical: str) -> None:
    entry = catalog.resolve(alias)
    assert entry is not None and entry.id == canonical
    assert entry.to_model_info()["id"] == canonical


def test_every_alias_resolves_to_its_entry(catalog: ModelCatalog) -> None:
    for entry in catalog.entries:
        assert all(catalog.resolve(model_id) is entry for model_id in entry.ids)


def test_unknown_and_wrong_seed_ids_do_not_resolve(catalog: ModelCatalog) -> None:
    # The seeds contain these two ids, which the real API never had.
    for model_id in ("claude-opus-4-5-20250929", "claude-opus-4-7-20251001", "claude-does-not-exist", ""):
        assert catalog.resolve(model_id) is None
        assert model_id not in catalog


def _assert_valid_model_info(info: dict[str, Any]) -> None:
    """What the SDK accepts: lax and strict JSON validation, no extra keys, all capability keys."""
    parsed = ModelInfo.model_validate(info, strict=False)
    strict = ModelInfo.model_validate_json(json.dumps(info), strict=True)
    assert list(info)[:4] == ["type", "id", "display_name", "created_at"]
    assert set(info) == set(ModelInfo.model_fields)
    assert _keys(info["capabilities"]) == _shape_paths(_sdk_shape(ModelCapabilities))
    for model in (parsed, strict):
        assert model.model_extra == {}
        assert model.capabilities is not None
        # Round trip: the SDK serialises it back to exactly what we sent.
        assert model.model_dump(mode="json") == info
    for key in ("created_at", "deprecated_at", "retires_at"):
        assert info[key] is None or (info[key].endswith("Z") and "+" not in info[key])


def test_every_entry_is_a_valid_model_info(catalog: ModelCatalog) -> None:
    for entry in catalog.entries:
        _assert_valid_model_info(entry.to_model_info())


def test_every_capability_key_the_sdk_declares_is_present(catalog: ModelCatalog) -> None:
    declared = _shape_paths(_sdk_shape(ModelCapabilities))
    assert "thinking.types.between_tools.supported" in declared
    for entry in catalog.entries:
        assert _keys(entry.to_model_info()["capabilities"]) == declared, entry.id


def test_sdk_deprecation_warnings_match_lifecycle(catalog: ModelCatalog) -> None:
    for model_id in DEPRECATED_MODELS:
        entry = catalog.resolve(model_id)
        if entry is not None:
            assert entry.lifecycle != "active", model_id
            assert entry.retires_at is not None, model_id


def test_sdk_nonstreaming_caps_match(catalog: ModelCatalog) -> None:
    for model_id, cap in MODEL_NONSTREAMING_TOKENS.items():
        entry = catalog.resolve(model_id)
        if entry is not None:
            assert entry.mock.nonstreaming_max_tokens == cap, model_id


# --- catalog behaviour ---------------------------------------------------------------------


def test_file_is_newest_first(catalog: ModelCatalog) -> None:
    dates = [entry.created_at for entry in catalog.entries]
    assert dates == sorted(dates, reverse=True)


def test_list_defaults_to_active_and_deprecated_newest_first(catalog: ModelCatalog) -> None:
    listed = catalog.list()
    assert {entry.lifecycle for entry in listed} == {"active", "deprecated"}
    assert listed == [entry for entry in catalog.entries if entry.lifecycle != "retired"]
    assert [entry.created_at for entry in listed] == sorted((e.created_at for e in listed), reverse=True)
    assert catalog.list(set()) == listed


def test_list_filters_by_lifecycle(catalog: ModelCatalog) -> None:
    retired = catalog.list({"retired"})
    assert retired and all(entry.lifecycle == "retired" for entry in retired)
    assert catalog.resolve("claude-2.1") in retired
    assert len(catalog.list({"active", "deprecated", "retired"})) == len(catalog)
    assert catalog.list({"no-such-stage"}) == []


def test_list_is_stable_for_equal_dates() -> None:
    same = [ModelEntry.for_unknown(model_id) for model_id in ("a-same", "b-same", "c-same")]
    newest = dataclasses.replace(ModelEntry.for_unknown("d-new"), created_at=same[0].created_at.replace(year=2030))
    listed = ModelCatalog([*same, newest]).list()
    assert [entry.id for entry in listed] == ["d-new", "a-same", "b-same", "c-same"]


def test_mock_settings_follow_the_reference(catalog: ModelCatalog) -> None:
    def entry(model_id: str) -> ModelEntry:
        found = catalog.resolve(model_id)
        assert found is not None
        return found

    assert entry("claude-opus-4-7").mock.thinking == {"adaptive", "disabled"}
    assert entry("claude-fable-5").mock.thinking == {"adaptive"}
    assert entry("claude-sonnet-4-5").mock.thinking == {"enabled", "disabled"}
    assert entry("claude-2.1").mock.thinking == {"disabled"}
    assert not entry("claude-sonnet-4-6").mock.prefill and entry("claude-haiku-4-5").mock.prefill
    assert entry("claude-haiku-4-5").mock.min_cacheable_tokens == 4096
    assert entry("claude-opus-5").mock.min_cacheable_tokens == 512
    assert entry("claude-haiku-4-5").max_tokens == 64000
    assert entry("claude-opus-4-7").supports("effort", "xhigh")
    assert not entry("claude-opus-4-6").supports("effort", "xhigh")
    assert not entry("claude-opus-4-6").supports("no", "such", "path")


def test_entries_are_read_only(catalog: ModelCatalog) -> None:
    entry = catalog.entries[0]
    with pytest.raises(TypeError):
        entry.capabilities["batch"] = {"supported": False}  # type: ignore[index]
    info = entry.to_model_info()
    info["capabilities"]["batch"]["supported"] = False
    assert entry.to_model_info()["capabilities"]["batch"]["supported"] is True
    hash(entry)


def test_for_unknown_is_generous_and_valid() -> None:
    entry = ModelEntry.for_unknown("claude-made-up-9")
    info = entry.to_model_info()
    _assert_valid_model_info(info)
    assert info["id"] == "claude-made-up-9" and info["lifecycle"] == "active"
    assert info["created_at"] == "1970-01-01T00:00:00Z"
    assert entry.max_input_tokens == 1_000_000 and entry.max_tokens == 128_000
    assert entry.mock.prefill and entry.mock.forced_tool_use
    assert entry.mock.thinking == set(THINKING_TYPES)
    assert all(entry.supports(key) for key in CAPABILITY_SHAPE)


def test_pure_python_loader_gives_the_same_catalog(catalog: ModelCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver import documents

    monkeypatch.setattr(documents, "_Loader", yaml.SafeLoader)
    assert ModelCatalog.load().entries == catalog.entries


def test_load_takes_a_path(tmp_path: Any) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(_catalog_text(_raw_entry()), encoding="utf-8")
    assert [entry.id for entry in ModelCatalog.load(path)] == ["claude-test-1"]
    assert [entry.id for entry in ModelCatalog.load(str(path))] == ["claude-test-1"]


# --- broken files --------------------------------------------------------------------------


def _raw_entry(**overrides: Any) -> dict[str, Any]:
    info = ModelEntry.for_unknown("claude-test-1").to_model_info()
    raw = {key: info[key] for key in ("id", "display_name", "created_at", "lifecycle", "line")}
    raw.update(max_input_tokens=200000, max_tokens=64000, capabilities=info["capabilities"])
    raw["mock"] = {"prefill": True, "min_cacheable_tokens": 1024}
    raw.update(overrides)
    return raw


def _catalog_text(*entries: dict[str, Any]) -> str:
    return yaml.safe_dump({"models": list(entries)}, sort_keys=False)


def _without(raw: dict[str, Any], *path: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return raw


def _with(raw: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "entry", "field"),
    [
        (
            _without(_raw_entry(), "capabilities", "thinking", "types", "adaptive"),
            "claude-test-1",
            "capabilities.thinking.types.adaptive",
        ),
        (
            _with(_raw_entry(), "yes", "capabilities", "batch", "supported"),
            "claude-test-1",
            "capabilities.batch.supported",
        ),
        (
            _with(_raw_entry(), {"supported": True}, "capabilities", "telepathy"),
            "claude-test-1",
            "capabilities.telepathy",
        ),
        (_raw_entry(max_token=5), "claude-test-1", "max_token"),
        (_raw_entry(lifecycle="legacy"), "claude-test-1", "lifecycle"),
        (_raw_entry(line="poem"), "claude-test-1", "line"),
        (_raw_entry(max_tokens=0), "claude-test-1", "max_tokens"),
        (_raw_entry(created_at="last tuesday"), "claude-test-1", "created_at"),
        (_raw_entry(lifecycle="retired"), "claude-test-1", "deprecated_at"),
        (_raw_entry(retires_at="2027-01-01"), "claude-test-1", "retires_at"),
        (_without(_raw_entry(), "display_name"), "claude-test-1", "display_name"),
        (_without(_raw_entry(), "mock", "prefill"), "claude-test-1", "mock.prefill"),
        (_with(_raw_entry(), ["sometimes"], "mock", "thinking"), "claude-test-1", "mock.thinking"),
        (_without(_raw_entry(), "id"), "#1", "id"),
        (_raw_entry(vertex_ids=["claude-test-v1"]), "claude-test-1", "vertex_ids"),  # no @version
        (_raw_entry(vertex_ids=["claude-test@1", "claude-test@1"]), "claude-test-1", "vertex_ids"),
    ],
)
def test_broken_entry_names_entry_and_field(raw: dict[str, Any], entry: str, field: str) -> None:
    with pytest.raises(CatalogError) as caught:
        ModelCatalog.from_yaml(_catalog_text(raw), source="broken.yaml")
    assert (caught.value.entry, caught.value.field) == (entry, field)
    message = str(caught.value)
    assert "broken.yaml" in message and entry in message and field in message


def test_vertex_ids_resolve_to_their_entry(catalog: ModelCatalog) -> None:
    """Vertex calls Claude 3.5 Sonnet v2 ``claude-3-5-sonnet-v2@20241022`` (Anthropic's Vertex docs),
    not the id with its date after ``@``: the catalog records the name (``vertex_ids``)."""
    for name in ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2@latest", "claude-3-5-sonnet-v2@default", "claude-3-5-sonnet-v2"):
        entry = catalog.resolve_vertex(name)
        assert entry is not None and entry.id == "claude-3-5-sonnet-20241022", name
    for name in ("claude-3-5-sonnet-v2@20240620", "claude-3-5-sonnet@20240620", "claude-sonnet-4-5@20250929", "claude-3-5-sonnet-20241022"):
        assert catalog.resolve_vertex(name) is None, name  # mapped mechanically, as before
    assert "vertex_ids" not in catalog.resolve("claude-3-5-sonnet-20241022").to_model_info()  # type: ignore[union-attr]


def test_every_dated_id_keeps_its_mechanical_vertex_name(catalog: ModelCatalog) -> None:
    """``<model>@<date>`` still names every dated entry: a recorded Vertex name adds, never replaces."""
    for entry in catalog.entries:
        model, _, date = entry.id.rpartition("-")
        if date.isdigit() and len(date) == 8:
            assert catalog.resolve_vertex(f"{model}@{date}") is None
            assert catalog.resolve(vertex_model(f"{model}@{date}")) is entry


def test_the_bare_vertex_name_is_the_newest_entry_naming_it() -> None:
    first = _raw_entry(vertex_ids=["claude-test-v2@1"])
    newer = _raw_entry(id="claude-test-2", vertex_ids=["claude-test-v2@2"])
    catalog = ModelCatalog.from_yaml(_catalog_text(newer, first))  # newest first: the bare name is the newer one
    assert [catalog.resolve_vertex(n).id for n in ("claude-test-v2", "claude-test-v2@1", "claude-test-v2@2")] == [  # type: ignore[union-attr]
        "claude-test-2", "claude-test-1", "claude-test-2"]


def _with_plain(path: tuple[Any, ...], text: str) -> str:
    """A catalog of one entry whose value at ``path`` is ``text`` written plain (unquoted)."""
    return _catalog_text(_with(_raw_entry(aliases=["claude-test"], vertex_ids=["claude-test@1"]), "PLACEHOLDER", *path)).replace("PLACEHOLDER", text)


@pytest.mark.parametrize(
    ("path", "text", "field", "reading"),
    [
        (("id",), "0777", "id", "YAML 1.1's octal integer 511"),
        (("aliases", 0), "1_000", "aliases[0]", "YAML 1.1's integer 1000"),
        (("vertex_ids", 0), "0b101", "vertex_ids[0]", "YAML 1.1's binary integer 5"),
        (("display_name",), "On", "display_name", "YAML 1.1's boolean true"),
        (("lifecycle",), "off", "lifecycle", "YAML 1.1's boolean false"),
        (("line",), "no", "line", "YAML 1.1's boolean false"),
        (("created_at",), "10:00:00", "created_at", "YAML 1.1's sexagesimal (base 60) integer 36000"),
        (("mock", "thinking"), "[enabled, yes]", "mock.thinking[1]", "YAML 1.1's boolean true"),
    ],
)
def test_a_yaml11_only_scalar_where_text_is_read_is_refused_as_written(
    tmp_path: Any, path: tuple[Any, ...], text: str, field: str, reading: str
) -> None:
    """A models file's text fields refuse a plain scalar only YAML 1.1 types, as scenario files
    do, naming the file, the entry, the key and the text as written (it said "must be a string,
    not an integer", or for a date "not 36000", without what was written)."""
    file = tmp_path / "my-models.yaml"
    file.write_text(_with_plain(path, text), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        ModelCatalog.load(file)
    entry = "#1" if field == "id" else "claude-test-1"
    assert (caught.value.source, caught.value.entry, caught.value.field) == (str(file), entry, field)
    shown = text.split(", ")[-1].rstrip("]")
    assert str(caught.value) == f"{file}: {entry}: {field}: {shown}, unquoted, is {reading}, not the text '{shown}': quote it"


def test_typed_catalog_fields_read_yaml11_scalars_as_yaml11_does() -> None:
    """Booleans and counts keep YAML 1.1's reading (as scenario files' typed fields do); quoted,
    the text fields take the text."""
    text = _catalog_text(_raw_entry(id="PLACEHOLDER_ID", aliases=["PLACEHOLDER_ALIAS"]))
    text = text.replace("max_tokens: 64000", "max_tokens: 8_192").replace("prefill: true", "prefill: yes")
    text = text.replace("batch:\n      supported: true", "batch:\n      supported: on")
    text = text.replace("PLACEHOLDER_ID", "'0777'").replace("PLACEHOLDER_ALIAS", '"yes"')
    assert all(part in text for part in ("max_tokens: 8_192", "prefill: yes", "supported: on", "id: '0777'"))
    (entry,) = ModelCatalog.from_yaml(text).entries
    assert (entry.id, entry.aliases, entry.max_tokens, entry.mock.prefill) == ("0777", ("yes",), 8192, True)
    assert entry.supports("batch")


def test_the_shipped_catalog_has_no_yaml11_only_scalar() -> None:
    from mockserver.documents import load_yaml_text
    from mockserver.protocol.catalog import DEFAULT_PATH

    found: dict[tuple[Any, ...], Any] = {}
    load_yaml_text(DEFAULT_PATH.read_text(encoding="utf-8"), allow_aliases=True, yaml11=found)
    assert found == {}


@pytest.mark.parametrize(("field", "name"), [("aliases", "claude-test"), ("vertex_ids", "claude-test-v2@1")])
def test_a_name_two_entries_give_names_both_entries(field: str, name: str) -> None:
    first = _raw_entry(**{field: [name]})
    second = _raw_entry(id="claude-test-2", **{field: [name]})
    with pytest.raises(CatalogError) as caught:
        ModelCatalog.from_yaml(_catalog_text(first, second))
    assert (caught.value.entry, caught.value.field) == ("claude-test-2", field)
    assert "claude-test-1" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [("models: [\n", None), ("- just a list\n", None), ("models: {}\n", "models"), ("modles: []\n", "modles")],
)
def test_broken_file_structure(text: str, field: str | None) -> None:
    with pytest.raises(CatalogError) as caught:
        ModelCatalog.from_yaml(text)
    assert caught.value.field == field


def test_missing_file_is_a_catalog_error(tmp_path: Any) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        ModelCatalog.load(tmp_path / "absent.yaml")
