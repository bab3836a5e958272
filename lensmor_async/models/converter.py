"""The one converter: wire JSON (already parsed) → frozen models.

Two paths share one description of every model (:class:`_Field` tuples derived from
the attrs fields, their types and their metadata):

* **Fast path.** For each model class a structure function is generated (source text
  compiled with ``exec``) and registered as a structure hook on the private cattrs
  ``Converter``. It dispatches on the object's key set (see :func:`_generate`): for a
  key set seen before, one ``itemgetter`` call reads every value and no set operation
  is needed for ``extra``. It coerces ids to ``str`` and whole numbers to ``int``,
  checks booleans, required strings and container shapes, and fills the new object's
  slots through their descriptors (see :func:`_emit_build`). The generated source is
  registered with ``linecache``, so tracebacks through it show the lines.
* **Slow path.** Only when the fast path raises (any exception), :func:`_slow` walks the
  same description with full type checks. It either returns the model (then equal to
  what the fast path would have built) or raises
  :class:`~lensmor_async.errors.ResponseValidationError` with a JSON path such as
  ``$.items[3].id``. Error messages name types, never values (bodies of paid calls must
  not leak into messages or logs).

Conventions applied from the field description:

* an attribute named ``id`` or ``*_id`` is an id: strings kept, integers become ``str``;
  ``*_ids`` tuples likewise;
* ``int`` fields accept integral floats (``2000.0``) and refuse fractions;
* millisecond timestamps (``metadata=ms()``) accept integers, integral floats and
  numeric strings (whatever ``int()`` accepts), and always decode to ``int``;
* ``null`` for an optional tuple decodes to its default (``()``);
* unknown keys land in ``extra``, sorted by key.

The fast path trusts what costs too much to check on every item: nullable leaf strings
and numbers, and the elements of string arrays. Required strings and numbers, booleans,
ids, integers, timestamps and every container shape are checked.
"""

from __future__ import annotations

import enum
import functools
import itertools
import linecache
import operator
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType, NoneType, UnionType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import attrs
import orjson

from lensmor_async.errors import ConfigurationError, ResponseValidationError
from lensmor_async.models._base import Model
from lensmor_async.models._fields import (
    ALIASES,
    EMPTY,
    KIND,
    KIND_BALANCE_AFTER,
    KIND_MS,
    KIND_SOURCE_TYPE,
    WIRE,
)
from lensmor_async.models._sentinel import UNSET, UnsetType
from lensmor_async.models.credits import BalanceAfter

if TYPE_CHECKING:
    import cattrs

    from lensmor_async.models.pagination import Page

__all__ = [
    "dumps",
    "from_dict",
    "loads",
    "structure",
    "structure_page",
    "to_jsonable",
    "unstructure",
]

T = TypeVar("T")


# Field kinds.
_ANY = "any"
_STR = "str"
_SCALAR = "int|str"
_BOOL = "bool"
_INT = "int"
_FLOAT = "float"
_MS = "ms"
_ID = "id"
_IDS = "ids"
_STRS = "strs"
_SOURCE_TYPE = "source_type"
_MODEL = "model"
_MODELS = "models"
_MAPPING = "mapping"
_MAPPINGS = "mappings"
_PAGE = "page"
_BALANCE_AFTER = "balance_after"

# What each kind expects, for error messages.
_EXPECTED = {
    _STR: "a string",
    _SCALAR: "a string or an integer",
    _BOOL: "a boolean",
    _INT: "a whole number",
    _FLOAT: "a number",
    _MS: "a millisecond timestamp (integer or digit string)",
    _ID: "an id (string or integer)",
    _IDS: "an array of ids",
    _STRS: "an array of strings",
    _SOURCE_TYPE: "a string or an array of strings",
    _MODEL: "an object",
    _MODELS: "an array of objects",
    _MAPPING: "an object",
    _MAPPINGS: "an array of objects",
    _PAGE: "a page object",
    _BALANCE_AFTER: "an object or a number",
}


class _Field(NamedTuple):
    """How one attribute is read from the wire."""

    attr: str
    wire: str
    kind: str
    required: bool
    nullable: bool
    default: Any
    sub: Any
    aliases: tuple[str, ...]


class _Mismatch(Exception):
    """Internal: the fast path met something it does not accept (never escapes)."""


def _bad(*_: object) -> Any:
    raise _Mismatch


# --- scalar coercions shared by both paths (so that their results are equal) -----------


def _id(value: Any) -> str:
    """An id from a non-``str`` wire value: integers become strings, the rest is refused."""
    if value.__class__ is int:
        return str(value)
    raise _Mismatch


def _int(value: Any) -> int:
    """A whole number from a non-``int`` wire value (an integral float); no bools."""
    if value.__class__ is float and value.is_integer():
        return int(value)
    raise _Mismatch


def _ms(value: Any) -> int:
    """Epoch milliseconds from a non-``int`` wire value (numeric string or integral float).

    Strings go straight to ``int()`` (which refuses anything non-numeric): a stricter
    digit check would double the cost of the most common timestamp form.
    """
    if value.__class__ is str:
        return int(value)
    return _int(value)


def _ids(value: Any, default: Any) -> Any:
    if value.__class__ is list:
        return tuple([item if item.__class__ is str else _id(item) for item in value])
    if value is None:
        return default
    raise _Mismatch


def _null_default(value: Any, default: Any) -> Any:
    """``null`` (or absent) for an optional container: its default; anything else is wrong."""
    if value is None:
        return default
    raise _Mismatch


def _source_type(value: Any) -> tuple[str, ...]:
    """``sourceType`` that is not a list: a 0.22 string, or null."""
    if value is None:
        return ()
    if value.__class__ is str:
        return (value,)
    raise _Mismatch


def _extra(data: Mapping[str, Any], known: frozenset[str]) -> Mapping[str, Any]:
    """The unknown keys of ``data`` (sorted, so that ``repr`` is stable)."""
    keys = data.keys() - known
    if not keys:
        return EMPTY
    if len(keys) == 1:  # the usual case: one field added by a newer server
        (key,) = keys
        return MappingProxyType({key: data[key]})
    return MappingProxyType({key: data[key] for key in sorted(keys)})


def _frozen_mapping(value: Any) -> Mapping[str, Any]:
    if value.__class__ is dict:
        return MappingProxyType(dict(value))
    raise _Mismatch


def _mappings(value: Any, default: Any) -> Any:
    if value.__class__ is list:
        return tuple([_frozen_mapping(item) for item in value])
    return _null_default(value, default)


# --- field descriptions ------------------------------------------------------------------

_SPECS: dict[tuple[type[Any], Any], tuple[_Field, ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _split_optional(tp: Any) -> tuple[list[Any], bool]:
    """The non-None, non-UNSET members of a type, and whether None is one of them."""
    if typing.get_origin(tp) in (typing.Union, UnionType):
        members = list(typing.get_args(tp))
    else:
        members = [tp]
    nullable = NoneType in members
    return [m for m in members if m not in (NoneType, UnsetType)], nullable


def _classify_tuple(attr: str, arg: Any, item_cls: Any) -> tuple[str, Any]:
    if arg is str:
        return (_IDS if attr.endswith("_ids") else _STRS), None
    if isinstance(arg, TypeVar):
        return _MODELS, item_cls
    if typing.get_origin(arg) is Mapping:
        return _MAPPINGS, None
    if attrs.has(arg):
        return _MODELS, arg
    return _ANY, None


def _classify(attr: str, tp: Any, special: str | None, item_cls: Any) -> tuple[str, bool, Any]:
    """(kind, nullable, nested class) for one annotated attribute."""
    members, nullable = _split_optional(tp)
    if special == KIND_BALANCE_AFTER:
        return _BALANCE_AFTER, nullable, BalanceAfter
    if special == KIND_SOURCE_TYPE:
        return _SOURCE_TYPE, nullable, None
    if set(members) == {int, str}:
        return _SCALAR, nullable, None
    if len(members) != 1:
        return _ANY, nullable, None
    (member,) = members
    origin = typing.get_origin(member)
    simple: dict[Any, str] = {bool: _BOOL, float: _FLOAT, Any: _ANY}
    if member is str:
        kind = _ID if attr == "id" or attr.endswith("_id") else _STR
    elif member is int:
        kind = _MS if special == KIND_MS else _INT
    elif member in simple:
        kind = simple[member]
    elif origin is tuple:
        kind, sub = _classify_tuple(attr, typing.get_args(member)[0], item_cls)
        return kind, nullable, sub
    elif origin is Mapping:
        kind = _MAPPING
    elif _is_page_class(origin):
        return _PAGE, nullable, typing.get_args(member)[0]
    elif attrs.has(member):
        return _MODEL, nullable, member
    else:
        kind = _ANY
    return kind, nullable, None


def _spec(cls: type[Any], item_cls: Any = None) -> tuple[_Field, ...]:
    """The field descriptions of ``cls`` (``item_cls`` fills a page's ``items``), cached."""
    key = (cls, item_cls)
    spec = _SPECS.get(key)
    if spec is None:
        spec = _SPECS[key] = _build_spec(cls, item_cls)
    return spec


def _build_spec(cls: type[Any], item_cls: Any) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    snake = bool(getattr(cls, "__wire_snake__", False))
    fields = []
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        meta = field.metadata
        kind, nullable, sub = _classify(field.name, hints[field.name], meta.get(KIND), item_cls)
        wire_name = meta.get(WIRE) or (field.name if snake else _camel(field.name))
        required = field.default is attrs.NOTHING
        default = None if required else field.default
        fields.append(
            _Field(
                field.name, wire_name, kind, required, nullable, default, sub, meta.get(ALIASES, ())
            )
        )
    return tuple(fields)


def _known_keys(spec: tuple[_Field, ...]) -> frozenset[str]:
    return frozenset(name for f in spec for name in (f.wire, *f.aliases))


# --- fast path: generated structure functions ------------------------------------------

_FAST: dict[tuple[type[Any], Any], Callable[..., Any]] = {}


def _emit_build(src: _Source, cls: type[Any]) -> None:
    """``o = <new cls>``, its slots filled from the locals ``a_<attr>``; ``return o``.

    Frozen attrs classes set every slot through ``object.__setattr__`` in ``__init__``
    (a bound-method call with the attribute name per field). Here each slot is set by
    its own descriptor's ``__set__``, fetched once per class: the same store without the
    name lookup or argument parsing. The instance is a ``cls`` from the start, so no
    ``__init__``-bypassing class relabelling is needed.
    """
    src.add("o = _new(_C)")
    for n, attribute in enumerate(attrs.fields(cls)):
        setter = src.ref(f"_set{n}", getattr(cls, attribute.name).__set__)
        src.add(f"{setter}(o, a_{attribute.name})")
    src.add("return o")


def _fast_fn(cls: type[Any], item_cls: Any = None) -> Callable[..., Any]:
    key = (cls, item_cls)
    fn = _FAST.get(key)
    if fn is None:
        fn = _FAST[key] = _generate(cls, item_cls)
    return fn


_COMPILED = itertools.count(1)
"""Numbers the generated sources, so each has its own ``linecache`` entry."""


class _Source:
    """Collects generated lines and the objects they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "_bad": _bad,
            "_id": _id,
            "_int": _int,
            "_ids": _ids,
            "_null_default": _null_default,
            "_source_type": _source_type,
            "_frozen_mapping": _frozen_mapping,
            "_mappings": _mappings,
            "_extra": _extra,
            "_new": object.__new__,
            "_mp": MappingProxyType,
            "_len": len,
            "_tuple": tuple,
            "_map": map,
            "_bool": bool,
            "_int_t": int,
            "_float_t": float,
            "_str_t": str,
            "_list_t": list,
            "_UNSET": UNSET,
            "_EMPTY": EMPTY,
        }

    def ref(self, name: str, value: Any) -> str:
        self.namespace[name] = value
        return name

    def add(self, *lines: str) -> None:
        self.lines.extend("    " + line for line in lines)

    def compile(self, name: str, params: str, cls: type[Any]) -> Callable[..., Any]:
        """Compile the collected lines as ``def name(params)`` and return the function.

        The source goes into ``linecache`` under a unique file name, so a traceback
        through generated code shows the line that failed (as cattrs and attrs do).
        """
        code = f"def {name}({params}):\n" + "\n".join(self.lines) + "\n"
        filename = f"<lensmor {name} {cls.__qualname__} #{next(_COMPILED)}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(code, filename, "exec"), self.namespace)
        return cast(Callable[..., Any], self.namespace[name])


_PASSTHROUGH = (_ANY, _STR, _FLOAT, _SCALAR)


def _is_plain(field: _Field) -> bool:
    """Copied as-is on the fast path: nullable leaf strings/numbers and ``Any``.

    Non-nullable strings and numbers are type-checked, so that an attribute typed
    ``str`` never holds ``None``.
    """
    if field.aliases or field.kind not in _PASSTHROUGH:
        return False
    return field.kind in (_ANY, _SCALAR) or field.nullable


def _generate(cls: type[Any], item_cls: Any) -> Callable[..., Any]:
    """The fast structure function of ``cls``: a dispatcher over known key *shapes*.

    A server sends the same set of keys for every item of a response (and of the next
    one), so for each observed key set a specialised converter is compiled that reads
    every value with one ``itemgetter`` call and assigns absent fields their defaults
    as constants. Shapes are looked up by ``len(d)`` (one per length, the latest wins);
    the ``itemgetter`` call proves the match (it raises ``KeyError`` when a key is
    missing, and with equal lengths no other key can be present). Anything else goes
    through the generic converter, which reads key by key with ``dict.get`` and then
    teaches the dispatcher the new shape. A ``KeyError`` from a nested object also
    lands in the generic converter, which re-raises it for the slow path.
    """
    spec = _spec(cls, item_cls)
    shapes = _Shapes(cls, spec)
    shapes.learn(tuple(field.wire for field in spec), ())
    src = _Source()
    src.ref("_S", shapes.by_length)
    src.ref("_learn", shapes.structure_and_learn)
    src.ref("_KeyError", KeyError)
    src.add(
        "convert = _S.get(_len(d))",
        "if convert is not None:",
        "    try:",
        "        return convert(d)",
        "    except _KeyError:",
        "        pass",
        "return _learn(d)",
    )
    return src.compile(f"structure_{cls.__name__}", "d, _t=None", cls)


class _Shapes:
    """The specialised converters of one model class, by number of keys.

    Compilation is capped per class, so hostile or chaotic key sets cannot make the
    process compile without end; past the cap, new shapes use the generic converter.
    """

    MAX_COMPILED = 16

    def __init__(self, cls: type[Any], spec: tuple[_Field, ...]) -> None:
        self.cls = cls
        self.spec = spec
        self.known = _known_keys(spec)
        self.by_length: dict[int, Callable[[Any], Any]] = {}
        self.compiled = 0
        self.generic = _generate_generic(cls, spec, self.known)

    def structure_and_learn(self, data: Any) -> Any:
        """Convert with the generic converter; remember the shape of valid objects."""
        result = self.generic(data)
        if self.compiled < self.MAX_COMPILED:
            present = tuple(key for key in _wire_order(self.spec) if key in data)
            extras = tuple(sorted(data.keys() - self.known))
            self.learn(present, extras)
        return result

    def learn(self, present: tuple[str, ...], extras: tuple[str, ...]) -> None:
        self.compiled += 1
        convert = _generate_shape(self.cls, self.spec, present, extras)
        self.by_length[len(present) + len(extras)] = convert


def _wire_order(spec: tuple[_Field, ...]) -> tuple[str, ...]:
    return tuple(name for field in spec for name in (field.wire, *field.aliases))


def _tuple_getter(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    """``d -> tuple of d[key]`` (``itemgetter`` returns a bare value for a single key)."""
    if len(keys) == 1:
        (key,) = keys
        return lambda data: (data[key],)
    if not keys:
        # Anything with a length matches zero keys: insist on an object.
        return lambda data: () if data.__class__ is dict else _bad()
    return operator.itemgetter(*keys)


def _generate_generic(
    cls: type[Any], spec: tuple[_Field, ...], known: frozenset[str]
) -> Callable[..., Any]:
    """Read key by key (``get`` with defaults); unknown keys by set difference."""
    src = _Source()
    src.ref("_C", cls)
    src.ref("_K", known)
    for index, field in enumerate(spec):
        if _emit_read(src, index, field):
            _emit_assign(src, index, field, "v")
    src.add("a_extra = _EMPTY if _K.issuperset(d) else _extra(d, _K)")
    _emit_build(src, cls)
    return src.compile(f"structure_{cls.__name__}_generic", "d", cls)


def _generate_shape(
    cls: type[Any], spec: tuple[_Field, ...], present: tuple[str, ...], extras: tuple[str, ...]
) -> Callable[..., Any]:
    """A converter for objects with exactly the keys ``present`` (in wire order) + ``extras``.

    Raises ``KeyError`` when the object lacks one of them. The source never contains an
    unknown key: those are server-controlled, so their names live in the namespace only.
    """
    src = _Source()
    src.ref("_C", cls)
    src.ref("_G", _tuple_getter(present + extras))
    src.add("vals = _G(d)")
    targets: list[str] = []
    body: list[tuple[int, _Field, list[str]]] = []
    for index, field in enumerate(spec):
        names = [name for name in (field.wire, *field.aliases) if name in present]
        variables = [f"v{index}_{n}" for n in range(len(names))]
        if len(variables) == 1 and _is_plain(field):
            targets.append(f"a_{field.attr}")
            continue
        targets.extend(variables)
        body.append((index, field, variables))
    targets.extend(f"x{n}" for n in range(len(extras)))
    if targets:
        src.add(f"{', '.join(targets)}, = vals")
    for index, field, variables in body:
        if not variables:  # absent: its default, decided now
            src.add(f"a_{field.attr} = {src.ref(f'_a{index}', field.default)}")
            continue
        value = variables[0]
        for alias in variables[1:]:
            src.add(f"if {value} is None:", f"    {value} = {alias}")
        _emit_assign(src, index, field, value)
    if extras:
        items = ", ".join(f"{src.ref(f'_X{n}', key)}: x{n}" for n, key in enumerate(extras))
        src.add(f"a_extra = _mp({{{items}}})")
    else:
        src.add("a_extra = _EMPTY")
    _emit_build(src, cls)
    return src.compile(f"structure_{cls.__name__}_shape", "d", cls)


def _emit_read(src: _Source, index: int, field: _Field) -> bool:
    """``v = <wire value>`` (subscript if required, else ``get`` with the default).

    Plain fields are assigned directly; returns whether ``v`` still needs converting.
    """
    # Only UNSET needs to survive a missing key; containers map None to their default.
    default = "_UNSET" if field.default is UNSET else "None"
    read = f"d[{field.wire!r}]" if field.required else f"d.get({field.wire!r}, {default})"
    if _is_plain(field):
        src.add(f"a_{field.attr} = {read}")
        return False
    src.add(f"v = {read}")
    for alias in field.aliases:
        src.add("if v is None:", f"    v = d.get({alias!r}, {default})")
    return True


def _emit_assign(src: _Source, index: int, field: _Field, v: str) -> None:
    """``a_<attr> = <converted v>`` for one field (``v`` names the variable holding it)."""
    target = f"a_{field.attr}"
    null_ok = f"{v} is None or " if field.nullable else ""
    kind = field.kind
    if _is_plain(field):
        src.add(f"{target} = {v}")
    elif kind in _PASSTHROUGH:
        check = {
            _STR: f"{v}.__class__ is _str_t",
            _FLOAT: f"({v}.__class__ is _float_t or {v}.__class__ is _int_t)",
        }.get(kind, "True")
        src.add(f"if not ({null_ok}{check}):", "    _bad()", f"{target} = {v}")
    elif kind == _BOOL:
        src.add(f"if not ({null_ok}{v}.__class__ is _bool):", "    _bad()", f"{target} = {v}")
    elif kind == _ID:
        src.add(f"{target} = {v} if {null_ok}{v}.__class__ is _str_t else _id({v})")
    elif kind in (_INT, _MS):
        # Digit strings are the common timestamp form: converted inline (same as _ms).
        other = (
            f"(_int_t({v}) if {v}.__class__ is _str_t else _int({v}))"
            if kind == _MS
            else f"_int({v})"
        )
        src.add(f"{target} = {v} if {null_ok}{v}.__class__ is _int_t else {other}")
    else:
        _emit_container(src, index, field, target, v)


def _emit_container(src: _Source, index: int, field: _Field, target: str, v: str) -> None:
    kind = field.kind
    if field.required and not field.nullable:
        src.add(f"if {v} is None:", "    _bad()")
    default = "None" if field.default is None else src.ref(f"_d{index}", field.default)
    if kind in (_STRS, _SOURCE_TYPE):
        other = f"_source_type({v})" if kind == _SOURCE_TYPE else f"_null_default({v}, {default})"
        src.add(f"{target} = _tuple({v}) if {v}.__class__ is _list_t else {other}")
    elif kind == _IDS:
        src.add(f"{target} = _ids({v}, {default})")
    elif kind == _MAPPINGS:
        src.add(f"{target} = _mappings({v}, {default})")
    elif kind == _MAPPING:
        src.add(f"{target} = None if {v} is None else _frozen_mapping({v})")
    elif kind == _MODELS:
        sub = src.ref(f"_s{index}", _fast_fn(field.sub))
        src.add(
            f"{target} = _tuple(_map({sub}, {v})) if {v}.__class__ is _list_t "
            f"else _null_default({v}, {default})"
        )
    elif kind == _BALANCE_AFTER:
        src.add(f"{target} = {src.ref(f'_s{index}', _balance_after)}({v})")
    else:  # _MODEL or _PAGE
        sub_fn = _page_fast_fn(field.sub) if kind == _PAGE else _fast_fn(field.sub)
        sub = src.ref(f"_s{index}", sub_fn)
        if field.required and not field.nullable:
            src.add(f"{target} = {sub}({v})")
        elif field.default is UNSET:
            src.add(f"{target} = {v} if {v} is None or {v} is _UNSET else {sub}({v})")
        else:
            src.add(f"{target} = None if {v} is None else {sub}({v})")


def _balance_after(value: Any) -> Any:
    """``balanceAfter``: object (0.22+), bare number (1.0 OpenAPI), null, or absent."""
    if value is None or value is UNSET:
        return value
    if value.__class__ is dict:
        return _fast_fn(BalanceAfter)(value)
    total = value if value.__class__ is int else _int(value)
    return BalanceAfter(total_balance=total)


def _page_class(item_cls: type[Any]) -> type[Page[Any]]:
    from lensmor_async.models.pagination import TYPED_PAGES  # loaded with the first page

    return TYPED_PAGES.get(item_cls, _page())


def _page_fast_fn(item_cls: type[Any]) -> Callable[..., Any]:
    return _fast_fn(_page_class(item_cls), item_cls)


def _page_item_class(cls: type[Any]) -> Any:
    """The item class of a concrete page subclass (``RecommendedEventPage`` → its items)."""
    for base in getattr(cls, "__orig_bases__", ()):
        if typing.get_origin(base) is _page():
            return typing.get_args(base)[0]
    return None


# --- the cattrs converter: hooks for models and pages ------------------------------------


def _page() -> type[Page[Any]]:
    """``Page``, imported when a page is first decoded: a balance call needs none, and the
    pagination models cost ~4 ms to load."""
    from lensmor_async.models.pagination import Page

    return Page


def _is_page_class(cls: Any) -> bool:
    """``Page`` or a subclass, told by its marker (so that asking does not load ``Page``)."""
    return isinstance(cls, type) and getattr(cls, "__page__", False) is True


def _is_page_type(tp: Any) -> bool:
    return _is_page_class(typing.get_origin(tp)) or _is_page_class(tp)


def _is_model_type(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp) and not _is_page_class(tp)


def _page_hook(tp: Any) -> Callable[..., Any]:
    if typing.get_origin(tp) is _page():
        return _page_fast_fn(typing.get_args(tp)[0])
    return _fast_fn(tp, _page_item_class(tp))


def _model_hook(tp: Any) -> Callable[..., Any]:
    return _fast_fn(tp)


@functools.cache
def _converter() -> cattrs.Converter:
    """The cattrs converter, built on first use, with the generated hooks registered.

    Models and pages never need its dispatch (:func:`_hook` hands them their generated
    functions directly), so the first call of a client does not import cattrs; other
    types (``structure(data, int)``) go through it.
    """
    import cattrs

    converter = cattrs.Converter()
    converter.register_structure_hook_factory(_is_page_type, _page_hook)
    converter.register_structure_hook_factory(_is_model_type, _model_hook)
    return converter


def _hook(tp: Any) -> Callable[[Any, Any], Any]:
    """The structure hook of ``tp``: the generated function of a model or page."""
    if _is_page_type(tp):
        return _page_hook(tp)
    if _is_model_type(tp):
        return _model_hook(tp)
    return _converter().get_structure_hook(tp)


# Hooks resolved once per class, so that a call does one dict lookup.
_HOOKS: dict[Any, Callable[[Any, Any], Any]] = {}
_PAGE_HOOKS: dict[type[Any], Callable[[Any, Any], Any]] = {}


# --- slow path: a validating walker over the same description ----------------------------


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", NoneType: "null"}
    if value.__class__ in names:
        return names[value.__class__]
    return "number" if isinstance(value, int | float) else type(value).__name__


def _invalid(path: str, expected: str, value: Any) -> ResponseValidationError:
    return ResponseValidationError(f"expected {expected}, got {_json_type(value)}", path=path)


def _slow(data: Any, cls: type[Any], item_cls: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise _invalid(path, "an object", data)
    spec = _spec(cls, item_cls)
    values: dict[str, Any] = {}
    for field in spec:
        wire_name, present = field.wire, field.wire in data
        raw = data.get(wire_name)
        for alias in field.aliases:
            if raw is None and data.get(alias) is not None:
                wire_name, present, raw = alias, True, data[alias]
        if not present:
            if field.required:
                raise ResponseValidationError(
                    "required field is missing", path=f"{path}.{wire_name}"
                )
            values[field.attr] = field.default
            continue
        values[field.attr] = _slow_value(field, raw, f"{path}.{wire_name}")
    known = _known_keys(spec)
    values["extra"] = EMPTY if known.issuperset(data) else _extra(data, known)
    return cls(**values)


def _slow_value(field: _Field, raw: Any, path: str) -> Any:
    if raw is None and field.kind != _ANY:
        if field.nullable:
            return None
        if not field.required and field.kind in (_STRS, _IDS, _SOURCE_TYPE, _MODELS, _MAPPINGS):
            return field.default
        raise _invalid(path, _EXPECTED[field.kind], raw)
    try:
        return _SLOW_KINDS[field.kind](field, raw, path)
    except _Mismatch:
        raise _invalid(path, _EXPECTED[field.kind], raw) from None


def _slow_scalar(field: _Field, raw: Any, path: str) -> Any:
    accepted: dict[str, tuple[type[Any], ...]] = {
        _STR: (str,),
        _SCALAR: (str, int),
        _BOOL: (bool,),
        _FLOAT: (int, float),
    }
    if field.kind == _ANY or raw.__class__ in accepted[field.kind]:
        return raw
    raise _Mismatch


def _slow_number(field: _Field, raw: Any, path: str) -> Any:
    if raw.__class__ is int:
        return raw
    try:
        return _ms(raw) if field.kind == _MS else _int(raw)
    except (ValueError, OverflowError):
        raise _Mismatch from None


def _slow_id(field: _Field, raw: Any, path: str) -> str:
    if raw.__class__ is str:
        return raw
    try:
        return _id(raw)
    except ValueError:  # an integer beyond int→str conversion limits
        raise _Mismatch from None


def _slow_ids(field: _Field, raw: Any, path: str) -> tuple[str, ...]:
    if raw.__class__ is not list:
        raise _Mismatch
    result = []
    for index, item in enumerate(raw):
        if item.__class__ is not str:
            try:
                item = _id(item)
            except (_Mismatch, ValueError):
                raise _invalid(f"{path}[{index}]", _EXPECTED[_ID], item) from None
        result.append(item)
    return tuple(result)


def _slow_strs(field: _Field, raw: Any, path: str) -> tuple[str, ...]:
    if field.kind == _SOURCE_TYPE and raw.__class__ is str:
        return (raw,)
    if raw.__class__ is not list:
        raise _Mismatch
    for index, item in enumerate(raw):
        if item.__class__ is not str:
            raise _invalid(f"{path}[{index}]", _EXPECTED[_STR], item)
    return tuple(raw)


def _slow_mapping(field: _Field, raw: Any, path: str) -> Any:
    if field.kind == _MAPPING:
        return _frozen_mapping(raw)
    if raw.__class__ is not list:
        raise _Mismatch
    result = []
    for index, item in enumerate(raw):
        if item.__class__ is not dict:
            raise _invalid(f"{path}[{index}]", _EXPECTED[_MAPPING], item)
        result.append(MappingProxyType(dict(item)))
    return tuple(result)


def _slow_model(field: _Field, raw: Any, path: str) -> Any:
    if field.kind == _PAGE:
        return _slow(raw, _page_class(field.sub), field.sub, path)
    if field.kind == _MODEL:
        return _slow(raw, field.sub, None, path)
    if raw.__class__ is not list:
        raise _Mismatch
    return tuple(_slow(item, field.sub, None, f"{path}[{i}]") for i, item in enumerate(raw))


def _slow_balance_after(field: _Field, raw: Any, path: str) -> Any:
    if raw.__class__ is dict:
        return _slow(raw, BalanceAfter, None, path)
    if raw.__class__ in (int, float):
        return BalanceAfter(total_balance=_slow_number(field._replace(kind=_INT), raw, path))
    raise _Mismatch


_SLOW_KINDS: dict[str, Callable[[_Field, Any, str], Any]] = {
    _ANY: _slow_scalar,
    _STR: _slow_scalar,
    _SCALAR: _slow_scalar,
    _BOOL: _slow_scalar,
    _FLOAT: _slow_scalar,
    _INT: _slow_number,
    _MS: _slow_number,
    _ID: _slow_id,
    _IDS: _slow_ids,
    _STRS: _slow_strs,
    _SOURCE_TYPE: _slow_strs,
    _MAPPING: _slow_mapping,
    _MAPPINGS: _slow_mapping,
    _MODEL: _slow_model,
    _MODELS: _slow_model,
    _PAGE: _slow_model,
    _BALANCE_AFTER: _slow_balance_after,
}


def _structure_slow(data: Any, cls: type[Any], item_cls: Any = None) -> Any:
    """Validate and decode with paths; every failure becomes ``ResponseValidationError``."""
    try:
        return _slow(data, cls, item_cls, "$")
    except ResponseValidationError:
        raise
    except Exception as exc:  # no foreign exception may reach the caller
        raise ResponseValidationError(
            f"cannot decode {cls.__name__} ({type(exc).__name__})", path="$"
        ) from exc


# --- public (to the package) API -----------------------------------------------------------


def structure(data: Any, cls: type[T]) -> T:
    """Decode parsed JSON ``data`` into model ``cls``.

    Raises :class:`~lensmor_async.errors.ResponseValidationError` (with ``path``) when
    the data does not fit; no other exception escapes. ``Page[X]`` is accepted and
    means :func:`structure_page` with ``X``.
    """
    hook = _HOOKS.get(cls)
    if hook is None and _is_page_class(typing.get_origin(cls)):
        return cast(T, structure_page(data, typing.get_args(cls)[0]))
    try:
        if hook is None:
            hook = _HOOKS[cls] = _hook(cls)
        return cast(T, hook(data, cls))
    except Exception:  # any fast-path failure means: look closer
        pass
    item_cls = _page_item_class(cls) if _is_page_type(cls) else None
    return cast(T, _structure_slow(data, cls, item_cls))


def structure_page(data: Any, item_cls: type[T]) -> Page[T]:
    """Decode a page whose ``items`` are ``item_cls``.

    Some item classes have a typed page subclass (``RecommendedEvent`` →
    :class:`RecommendedEventPage`); that subclass is returned for them.
    """
    try:
        hook = _PAGE_HOOKS.get(item_cls)
        if hook is None:
            from lensmor_async.models.pagination import Page  # loaded with the first page

            hook = _PAGE_HOOKS[item_cls] = _hook(Page[item_cls])  # type: ignore[valid-type]
        return cast("Page[T]", hook(data, item_cls))
    except Exception:  # any fast-path failure means: look closer
        pass
    return cast("Page[T]", _structure_slow(data, _page_class(item_cls), item_cls))


# --- serialisation: models → plain data, and back through ``structure`` --------------------

_LISTS = frozenset({_IDS, _STRS, _SOURCE_TYPE})
_NESTED = frozenset({_MODEL, _PAGE, _BALANCE_AFTER})


def unstructure(model: Any, *, wire: bool = False, export: bool = False) -> dict[str, Any]:
    """``model`` as JSON-ready data (``Model.to_dict``): attribute or wire names.

    Walks the same field description that decoding uses, so what it writes is what
    ``structure`` reads: ``from_dict(type(m), unstructure(m, wire=w), wire=w) == m``.
    ``export`` is the form of exports and ``--json`` output (:func:`to_jsonable`): every
    field in declaration order, ``UNSET`` as ``None``, unknown fields under ``extra``
    (attribute names only: ``wire`` is ignored).
    """
    cls = type(model)
    spec = _spec(cls, _page_item_class(cls))
    extra_at = _extra_position(cls) if export else -1
    out: dict[str, Any] = {}
    for index, field in enumerate(spec):
        if index == extra_at:
            out["extra"] = to_jsonable(model.extra)
        value = getattr(model, field.attr)
        if value is UNSET:
            if not export:
                continue  # absent from the response: stays absent
            value = None
        out[field.attr if export or not wire else field.wire] = _plain(
            field.kind, value, wire, export
        )
    if not export:
        out.update(model.extra)
    elif extra_at == len(spec):
        out["extra"] = to_jsonable(model.extra)
    return out


_EXTRA_AT: dict[type[Any], int] = {}


def _extra_position(cls: type[Any]) -> int:
    """Where ``extra`` is declared among the fields (subclasses add fields after it)."""
    at = _EXTRA_AT.get(cls)
    if at is None:
        at = _EXTRA_AT[cls] = [field.name for field in attrs.fields(cls)].index("extra")
    return at


def _plain(kind: str, value: Any, wire: bool, export: bool = False) -> Any:
    if value is None:
        return None
    if export:
        # Deep: nested models come back here; tuples, mappings, enums (and the items of
        # a page built by hand, whatever they are) become JSON data.
        return to_jsonable(value)
    if kind in _NESTED:
        return unstructure(value, wire=wire)
    if kind == _MODELS:
        return [unstructure(item, wire=wire) for item in value]
    if kind in _LISTS:
        return list(value)
    if kind == _MAPPING:
        return dict(value)
    if kind == _MAPPINGS:
        return [dict(item) for item in value]
    return value


def from_dict(
    cls: type[T], data: Mapping[str, Any], *, wire: bool = False, item: type[Any] | None = None
) -> T:
    """Decode ``to_dict()`` output (``Model.from_dict``); ``wire`` data goes straight in."""
    item_cls = item
    if _is_page_type(cls):
        item_cls = item or _page_item_class(cls)
        if item_cls is None:
            raise ConfigurationError("a Page needs its item class: Page.from_dict(data, item=X)")
    if not isinstance(data, Mapping):
        raise ResponseValidationError("expected an object", path="$")
    raw = dict(data) if wire else _to_wire(data, cls, item_cls)
    if item_cls is not None:
        return cast(T, _structure_page_as(raw, cls, item_cls))
    return structure(raw, cls)


def _structure_page_as(data: Any, cls: type[Any], item_cls: type[Any]) -> Any:
    page = structure_page(data, item_cls)
    if not isinstance(page, cls):
        raise ConfigurationError(f"items of {item_cls.__name__} decode to {type(page).__name__}")
    return page


def _to_wire(data: Mapping[str, Any], cls: type[Any], item_cls: Any) -> dict[str, Any]:
    """Attribute names → wire names, recursively (unknown keys are kept as they are)."""
    by_attr = {field.attr: field for field in _spec(cls, item_cls)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = by_attr.get(key)
        if field is None:
            out[key] = value
            continue
        out[field.wire] = _wire_value(field, value)
    return out


def _wire_value(field: _Field, value: Any) -> Any:
    if field.kind == _PAGE and isinstance(value, Mapping):
        return _to_wire(value, _page_class(field.sub), field.sub)
    if field.kind in (_MODEL, _BALANCE_AFTER) and isinstance(value, Mapping):
        return _to_wire(value, field.sub, None)
    if field.kind == _MODELS and isinstance(value, list):
        return [_to_wire(v, field.sub, None) if isinstance(v, Mapping) else v for v in value]
    return value


def dumps(data: Any) -> str:
    """JSON text of plain data (``Model.to_json``)."""
    return orjson.dumps(data).decode()


def loads(text: str | bytes) -> Any:
    """Parse JSON text for ``Model.from_json``; bad JSON is a ``ResponseValidationError``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ResponseValidationError("not valid JSON", path="$") from exc


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from a result, for exports and ``--json`` output (not the wire form).

    Models and pages are written by :func:`unstructure` (the one walk over a model's
    fields, shared with ``Model.to_dict``) in its export form: snake_case field names in
    declaration order, every field present (``UNSET``, "absent from the response", as
    ``null``) and unknown fields under ``extra``. Other attrs classes (reports, spend
    records) become objects with their field names; tuples become lists, mappings
    objects, enums their values.
    """
    if isinstance(value, Model):
        return unstructure(value, export=True)
    if attrs.has(type(value)):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return None if value.name == "UNSET" else to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return value
