"""Templates in command arguments: the allowed fields, literal braces, and everything refused."""

from __future__ import annotations

import pytest

from podium_templates import Field, MissingField, TemplateError, check, parse, render, render_payload

CONTEXT: dict[str, dict[str, object]] = {
    "parameters": {"name": "world", "hostile": "{run.__class__}", "empty": ""},
    "run": {"id": "r-1", "project": "examples", "job": "hello"},
    "worker": {"id": "w1", "os": "linux"},
    "results": {"text": "done", "count": 3, "nested": {"a": [1, "é"]}, "flag": True, "none": None},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("hello {parameters.name}", "hello world"),
        ("{run.id}/{run.project}/{run.job}", "r-1/examples/hello"),
        ("{worker.id} on {worker.os}", "w1 on linux"),
        ("{results.text}", "done"),
        ("no templates at all", "no templates at all"),
        ("", ""),
        ("{{literal}} and {{{parameters.name}}}", "{literal} and {world}"),
        ("}}{{", "}{"),
        ("[{parameters.empty}]", "[]"),
    ],
)
def test_render_allowed_fields(template: str, expected: str) -> None:
    """Every allowed namespace renders its string value, and doubled braces are literal."""
    assert render(template, CONTEXT) == expected


def test_render_inserts_values_literally() -> None:
    """A value that looks like a template is inserted as is and never parsed again."""
    assert render("x{parameters.hostile}y", CONTEXT) == "x{run.__class__}y"


@pytest.mark.parametrize(
    ("key", "expected"),
    [("count", "3"), ("nested", '{"a": [1, "é"]}'), ("flag", "true"), ("none", "null")],
)
def test_render_non_string_results_as_json(key: str, expected: str) -> None:
    """A result that is not a string is inserted as its JSON encoding."""
    assert render(f"{{results.{key}}}", CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{run.__class__}", "unknown key run.__class__"),
        ("{run.id.__class__}", "unknown key run.id.__class__"),
        ("{parameters[name]}", "indexing"),
        ("{parameters.name[0]}", "indexing"),
        ("{run.id!r}", "conversion"),
        ("{run.id:>10}", "format spec"),
        ("{run.id.__init__.__globals__}", "unknown key"),
        ("{os.environ}", "unknown namespace 'os'"),
        ("{self.__dict__}", "unknown namespace"),
        ("{__import__('os').system('x')}", "not allowed"),
        ("{0}", "NAMESPACE.KEY"),
        ("{}", "NAMESPACE.KEY"),
        ("{run}", "NAMESPACE.KEY"),
        ("{run.}", "invalid key"),
        ("{run. id}", "invalid key"),
        ("{parameters.missing}", "unknown key parameters.missing"),
        ("{worker.cpu}", "unknown key worker.cpu"),
        ("{results.missing}", "unknown key results.missing"),
        ("open {", "unbalanced '{'"),
        ("{run.id", "unbalanced '{'"),
        ("{run.{run.id}}", "unbalanced '{'"),
        ("close }", "unbalanced '}'"),
        ("a } b", "unbalanced '}'"),
    ],
)
def test_render_refuses(template: str, message: str) -> None:
    """Anything but the allowed fields is a TemplateError that names the template."""
    with pytest.raises(TemplateError) as raised:
        render(template, CONTEXT)
    assert message in str(raised.value)
    assert repr(template) in str(raised.value)


def test_parse_segments() -> None:
    """Parsing splits literal text from fields and folds doubled braces into the text."""
    assert parse("a{{b}}{run.id}c{results.x.y}") == ["a{b}", Field("run", "id"), "c", Field("results", "x.y")]


def test_check_defers_results() -> None:
    """Results do not exist before the run, so `check` validates only their syntax."""
    check("{results.later} {parameters.name}", CONTEXT | {"results": {}})
    with pytest.raises(TemplateError, match="unknown key parameters.nope"):
        check("{results.later} {parameters.nope}", CONTEXT)
    with pytest.raises(TemplateError, match="indexing"):
        check("{results[later]}", CONTEXT)


def test_check_can_require_every_key() -> None:
    """With nothing deferred, `check` refuses a missing result too."""
    with pytest.raises(TemplateError, match="unknown key results.later"):
        check("{results.later}", CONTEXT, deferred=frozenset())


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("plain", "plain"), ("", "''"), ("a; touch /tmp/p", "'a; touch /tmp/p'"), ("it's", "'it'\"'\"'s'"),
     ("$(id) `id` \\ \n", "'$(id) `id` \\ \n'")],
)  # fmt: skip
def test_sh_filter_quotes_for_a_shell(value: str, quoted: str) -> None:
    """`|sh` inserts the value as one shell word, exactly as `shlex.quote` would."""
    import shlex

    context: dict[str, dict[str, object]] = {"parameters": {"x": value}, "results": {"n": 3}}
    assert render("{parameters.x|sh}", context) == quoted == shlex.quote(value)
    assert render("{results.n|sh}", context) == "3"
    assert parse("{parameters.x|sh}") == [Field("parameters", "x", "sh")]


@pytest.mark.parametrize("template", ["{parameters.x|upper}", "{parameters.x|}", "{parameters.x|sh|sh}", "{|sh}"])
def test_only_the_sh_filter_exists(template: str) -> None:
    """Any other filter, an empty one or a chain is refused like any other template error."""
    with pytest.raises(TemplateError):
        parse(template)


PAYLOAD = {"ref": "refs/heads/main", "head_commit": {"id": "5b1e"}, "commits": [{"id": "a"}, {"id": "b"}], "n": 3}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{payload.ref}", "refs/heads/main"),
        ("{payload.head_commit.id}", "5b1e"),
        ("{payload.commits.1.id}", "b"),
        ("{payload.n} commits", "3 commits"),
        ("{payload.head_commit}", '{"id": "5b1e"}'),
        ("{payload.ref|sh}", "refs/heads/main"),
    ],
)
def test_payload_fields_are_read_by_path(template: str, expected: str) -> None:
    """A webhook trigger's template reads the body by dotted path, lists by index."""
    assert render_payload(template, PAYLOAD) == expected


@pytest.mark.parametrize(
    ("template", "missing"),
    [
        ("{payload.nope}", "payload.nope"),
        ("{payload.commits.5.id}", "payload.commits.5.id"),
        ("{payload.ref.x}", "payload.ref.x"),
    ],
)
def test_a_missing_payload_field_is_named(template: str, missing: str) -> None:
    """The error names the path the body lacks (the api answers it as a 422)."""
    with pytest.raises(MissingField) as caught:
        render_payload(template, PAYLOAD)
    assert missing in str(caught.value)


def test_payload_templates_read_only_the_payload() -> None:
    """Command namespaces are refused in a trigger, and `payload` in a command."""
    with pytest.raises(TemplateError, match="unknown namespace 'run'"):
        render_payload("{run.id}", PAYLOAD)
    with pytest.raises(TemplateError, match="unknown namespace 'payload'"):
        parse("{payload.ref}")
