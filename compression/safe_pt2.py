"""A `torch.export` archive (`.pt2`) checked against an allow-list before torch reads it.

`torch.export.load` trusts its file in three places (torch 2.x, torch/_export/serde):
symbolic sizes (`expr_str`) go through `sympy.sympify`, which is `eval`; `guards_code`
strings are handed to `exec` by `ExportedProgram.module()`; pickled weights, constants,
custom objects and sample inputs fall back to `torch.load(weights_only=False)`, and
AOTInductor entries are native libraries. So nothing is passed to torch until this module
has accepted every archive entry (a fixed list of names), every JSON key (the export
schema's own field names, minus those that carry code, custom objects or subgraphs),
every operator name (ATen, prims, tuple indexing) and every symbolic expression (parsed
here by a grammar of symbols, integers and integer arithmetic that cannot express a call
to anything else). Pure Python, no torch: it runs in the memory-limited upload worker.
"""
from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator

from compression.safe_zip import MB, check_members, printable, read_member

MAX_JSON_BYTES = 64 * MB  # models/*.json: parsed JSON takes ~10x its text in memory
MAX_SMALL_BYTES = 1 * MB  # config files, version strings, extra files
MAX_DEPTH = 64

# Archive entries below the root folder. Anything else (data/aotinductor/…, custom
# objects, pickled constants, legacy pickled weights) is refused.
_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
_PATTERNS = (
    re.compile(r"models/[A-Za-z0-9_]+\.json"),
    re.compile(r"data/weights/[A-Za-z0-9_]+_weights_config\.json"),
    re.compile(r"data/constants/[A-Za-z0-9_]+_constants_config\.json"),
    re.compile(r"data/weights/weight_[0-9]+"),
    re.compile(r"data/constants/tensor_[0-9]+"),
    re.compile(r"data/sample_inputs/[A-Za-z0-9_]+\.pt"),
)
# Entries of a torch.save zip (a .pt state dict, or a .pt2's sample inputs; both read later by
# weights_only=True). The root folder is the saved file's stem, any printable name.
_TORCH_ZIP = re.compile(r"[^/]{1,255}/(data\.pkl|version|byteorder|\.format_version|\.storage_alignment|"
                        r"\.data/version|\.data/serialization_id|data/[0-9]+)")

# The export schema's field names (torch/_export/serde/schema.py) that may appear as keys.
# Left out on purpose: guards_code (exec'd; allowed only at the top level and empty),
# custom objects (as_custom_obj, custom_obj, class_fqn: script objects are pickles),
# subgraphs and operator values (as_graph, as_operator: higher-order ops), AOTInductor fields.
_KEYS = frozenset("""
arg as_bool as_bools as_complex as_device as_expr as_float as_float_lists as_floats as_int as_int_lists
as_ints as_layout as_memory_format as_name as_nested_tensors as_none as_optional_tensor as_optional_tensors
as_scalar_type as_string as_string_to_argument as_strings as_sym_bool as_sym_bools as_sym_float
as_sym_floats as_sym_int as_sym_ints as_tensor as_tensors buffer buffer_mutation buffer_name config
constant_input device dtype expr_str field_names forward_arg_names fqn gradient_to_parameter
gradient_to_user_input graph graph_module hint imag in_spec index input_names input_specs inputs
is_hop_single_tensor_return is_param is_single_tensor_return kind layout loss_output major max_val
metadata min_val minor module_call_graph name node nodes opset_version out_spec output_names output_specs
outputs parameter parameter_mutation parameter_name path_name persistent range_constraints real
requires_grad schema_version signature sizes storage_offset strides sym_bool_values sym_float_values
sym_int_values target tensor_constant tensor_constant_name tensor_meta tensor_values torch_version
treespec_namedtuple_fields type use_pickle user_input user_input_mutation user_input_name user_output
value verifiers
""".split())
# Keys whose value maps free names (a tensor's name, a symbol, a parameter FQN) to schema objects.
_NAMED = frozenset({"tensor_values", "sym_int_values", "sym_bool_values", "sym_float_values",
                    "range_constraints", "opset_version", "config", "treespec_namedtuple_fields"})
_METADATA_KEYS = frozenset({"stack_trace", "nn_module_stack", "source_fn_stack", "torch_fn", "custom", "from_node"})
# Names and dotted FQNs. FX generates Python source from node names and get_attr targets
# (parameter FQNs become `getattr(self, "...")` text), so a name is code unless it is plain.
_NAME = re.compile(r"[A-Za-z0-9_]{1,100}(\.[A-Za-z0-9_]{1,100}){0,30}")
_NAME_KEYS = frozenset({"name", "as_name", "parameter_name", "buffer_name", "tensor_constant_name",
                        "user_input_name", "custom_obj_name", "input_names", "output_names",
                        "forward_arg_names", "field_names", "fqn", "as_strings"})
# Python's operator functions on sizes (SymInt arithmetic of dynamic shapes) and tuple indexing.
SIZE_OPERATORS = ("getitem", "add", "sub", "mul", "floordiv", "mod", "neg", "eq", "ne", "lt", "le", "gt", "ge")
_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+|_operator\.(" + "|".join(SIZE_OPERATORS) + ")")


class Pt2Refused(ValueError):
    """A `.pt2` refused by the allow-list: one sentence without the file's name."""


def check_archive(archive: zipfile.ZipFile) -> None:
    """Every entry, every JSON field and every expression of a `.pt2`, or Pt2Refused/ZipRefused."""
    infos = check_members(archive)
    roots = {i.filename.split("/", 1)[0] for i in infos}
    if len(roots) != 1:
        raise Pt2Refused("it is not a torch.export archive (its entries do not share one root folder)")
    by_rel = {}
    for info in infos:
        rel = info.filename.split("/", 1)[1] if "/" in info.filename else ""
        if info.is_dir() or not rel:
            continue
        if rel not in _FIXED and not any(p.fullmatch(rel) for p in _PATTERNS):
            raise Pt2Refused(f"its entry {printable(rel, 80)!r} is not part of a plain torch.export program "
                             f"(pickled objects, custom objects and AOTInductor native code are refused)")
        by_rel[rel] = info
    models = [r for r in by_rel if r.startswith("models/")]
    if not models:
        raise Pt2Refused("it is not a torch.export archive (no models/*.json)")
    for rel, info in by_rel.items():
        if rel.startswith("models/"):
            check_program(_json(archive, info, MAX_JSON_BYTES, rel))
        elif rel.endswith("_config.json"):
            _check_config(_json(archive, info, MAX_SMALL_BYTES * 16, rel), by_rel, rel)
        elif rel.startswith("data/sample_inputs/"):
            _check_torch_zip(archive, info)
        elif rel in _FIXED:
            read_member(archive, info, MAX_SMALL_BYTES)


def _json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, rel: str) -> object:
    raw = read_member(archive, info, cap)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise Pt2Refused(f"its {printable(rel, 80)} is not valid JSON") from None


def _check_config(cfg: object, by_rel: dict[str, zipfile.ZipInfo], rel: str) -> None:
    """A weights/constants config: every tensor a raw entry of the archive, none pickled."""
    if not isinstance(cfg, dict) or set(cfg) - {"config"} or not isinstance(cfg.get("config", {}), dict):
        raise Pt2Refused(f"its {printable(rel, 80)} is not a torch.export tensor table")
    folder = rel.rsplit("/", 1)[0]
    prefix = "weight_" if folder == "data/weights" else "tensor_"
    for fqn, entry in cfg.get("config", {}).items():
        shown = printable(fqn, 80)
        if not _NAME.fullmatch(fqn):
            raise Pt2Refused(f"its tensor name {shown!r} is not a plain name (FX would write it into Python source)")
        if not isinstance(entry, dict) or entry.get("use_pickle") is not False:
            raise Pt2Refused(f"its tensor {shown!r} is stored as pickle, which torch.export.load would run "
                             f"unrestricted")
        path = entry.get("path_name")
        if not isinstance(path, str) or not re.fullmatch(prefix + r"[0-9]+", path) or f"{folder}/{path}" not in by_rel:
            raise Pt2Refused(f"its tensor {shown!r} does not point at a raw tensor entry of the archive")
        if set(entry) - {"path_name", "is_param", "use_pickle", "tensor_meta"}:
            raise Pt2Refused(f"its tensor {shown!r} has fields outside the torch.export schema")
        _walk(entry.get("tensor_meta", {}), "tensor_meta", 1)


def _check_torch_zip(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """The sample inputs: a torch.save zip whose own headers are within the limits."""
    import io

    raw = read_member(archive, info, 64 * MB)
    try:
        inner = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise Pt2Refused("its sample inputs are not a torch.save zip (legacy pickles are refused)") from None
    for member in check_members(inner):
        if not _TORCH_ZIP.fullmatch(member.filename):
            raise Pt2Refused(f"its sample inputs hold {printable(member.filename, 80)!r}, not a tensor record")


def check_program(obj: object) -> None:
    """The serialized ExportedProgram (models/*.json) against the allow-list."""
    if not isinstance(obj, dict):
        raise Pt2Refused("its program is not a JSON object")
    guards = obj.get("guards_code", [])
    if guards != []:
        raise Pt2Refused("it carries guards_code, Python source that loading would execute")
    _walk({k: v for k, v in obj.items() if k != "guards_code"}, "", 0)


def _walk(node: object, key: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Pt2Refused("its program is nested deeper than any torch.export program")
    if isinstance(node, list):
        for item in node:
            _walk(item, key, depth + 1)
        return
    if isinstance(node, str):
        _check_string(key, node)
        return
    if not isinstance(node, dict):
        if not (node is None or isinstance(node, (bool, int, float))):
            raise Pt2Refused(f"its field {key!r} holds an unexpected value")
        return
    if key == "metadata":
        for k, v in node.items():
            if k not in _METADATA_KEYS or not isinstance(v, str):
                raise Pt2Refused(f"its node metadata has a field {printable(k, 40)!r} outside the torch.export schema")
            _check_metadata(k, v)
        return
    named = key in _NAMED
    for k, v in node.items():
        if named:
            if not _NAME.fullmatch(k):
                raise Pt2Refused(f"its {key} names {printable(k, 40)!r}, not a plain identifier")
            if key == "range_constraints":
                _check_expr(k)
            _walk(v, f"{key}[]", depth + 1)
        elif k == "custom_obj_values":
            if v:  # script objects are pickles
                raise Pt2Refused("it holds custom (script) objects, which loading would unpickle")
        else:
            if k not in _KEYS:
                raise Pt2Refused(f"its program has a field {printable(k, 40)!r} outside the allow-list "
                                 f"(code, custom objects and subgraphs are refused)")
            _walk(v, k, depth + 1)


def _check_string(key: str, value: str) -> None:
    if key in _NAME_KEYS - {"as_strings"} and value and not _NAME.fullmatch(value):
        raise Pt2Refused(f"its {key} {printable(value, 60)!r} is not a plain name (FX would write it into Python source)")
    if key == "target" and not _TARGET.fullmatch(value):
        raise Pt2Refused(f"it calls {printable(value, 60)!r}, not a built-in tensor operator (ATen or prims)")
    if key == "expr_str":
        _check_expr(value)


def _check_metadata(key: str, value: str) -> None:
    """Metadata strings are only stored, except source_fn_stack targets, which torch resolves by name."""
    if key == "source_fn_stack":
        for item in filter(None, value.split(";")):
            target = item.rsplit(",", 1)[-1]
            if not re.fullmatch(r"[A-Za-z0-9_.]+", target):
                raise Pt2Refused(f"its metadata names {printable(target, 60)!r}, not a built-in function")
    if key in ("custom", "from_node"):
        try:
            json.loads(value)
        except (ValueError, RecursionError):
            raise Pt2Refused(f"its node metadata {key} is not valid JSON") from None


# ---- symbolic sizes: a grammar of integer arithmetic on shape symbols ------------------

_FUNCS = frozenset({"Integer", "Add", "Mul", "Max", "Min", "FloorDiv", "Mod", "PythonMod", "CeilToInt",
                    "FloorToInt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality",
                    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "And", "Or", "Not"})
_ASSUMPTIONS = frozenset({"positive", "integer", "real", "nonnegative", "negative", "nonpositive", "finite",
                          "zero", "nonzero", "even", "odd", "rational", "commutative"})
_SYMBOL = re.compile(r"[a-z]{1,4}[0-9]{1,9}")
_TOKEN = re.compile(r"\s*(?:(?P<int>[0-9]{1,30})|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>'[^'\\]{0,32}')"
                    r"|(?P<op>//|==|!=|<=|>=|[-+*%(),=<>]))")
MAX_EXPR = 4096


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        if text[pos:].isspace():
            return
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Pt2Refused(f"its symbolic size {printable(text, 60)!r} is not integer arithmetic on shape symbols")
        pos = m.end()
        kind = m.lastgroup or "op"
        yield kind, m.group(kind)


class _Parser:
    """expr := cmp; cmp := sum [(==|!=|<|<=|>|>=) sum]; sum := term ((+|-) term)*;
    term := unary ((*|//|%) unary)*; unary := - unary | atom;
    atom := INT | SYMBOL | ( expr ) | Symbol('SYMBOL'[, ASSUMPTION=True|False]*) | FUNC( expr, ... )"""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = list(_tokens(text))
        self.i = 0
        self.depth = 0

    def fail(self) -> Pt2Refused:
        return Pt2Refused(f"its symbolic size {printable(self.text, 60)!r} is not integer arithmetic on shape symbols")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise self.fail()
        self.i += 1
        return tok[1]

    def parse(self) -> None:
        self.expr()
        if self.i != len(self.toks):
            raise self.fail()

    def expr(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail()
        self.sum()
        if self.peek() in [("op", o) for o in ("==", "!=", "<", "<=", ">", ">=")]:
            self.i += 1
            self.sum()
        self.depth -= 1

    def sum(self) -> None:
        self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            self.i += 1
            self.term()

    def term(self) -> None:
        self.unary()
        while self.peek() in (("op", "*"), ("op", "//"), ("op", "%")):
            self.i += 1
            self.unary()

    def unary(self) -> None:
        if self.peek() == ("op", "-"):
            self.i += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail()
            self.unary()
            self.depth -= 1
            return
        self.atom()

    def atom(self) -> None:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        kind, value = tok
        if kind == "int":
            self.i += 1
        elif kind == "op" and value == "(":
            self.i += 1
            self.expr()
            self.take(")")
        elif kind == "name" and value == "Symbol":
            self.i += 1
            self.take("(")
            name = self.take(kind="str")[1:-1]
            if not _SYMBOL.fullmatch(name):
                raise self.fail()
            while self.peek() == ("op", ","):
                self.i += 1
                if self.take(kind="name") not in _ASSUMPTIONS:
                    raise self.fail()
                self.take("=")
                if self.take(kind="name") not in ("True", "False"):
                    raise self.fail()
            self.take(")")
        elif kind == "name" and value in _FUNCS and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == ("op", "("):
            self.i += 2
            self.expr()
            while self.peek() == ("op", ","):
                self.i += 1
                self.expr()
            self.take(")")
        elif kind == "name" and _SYMBOL.fullmatch(value):
            self.i += 1
        else:
            raise self.fail()


def _check_expr(text: str) -> None:
    """Refuse a symbolic expression that is not integer arithmetic on shape symbols."""
    if not isinstance(text, str) or len(text) > MAX_EXPR:
        raise Pt2Refused("its symbolic size is longer than any torch.export program writes")
    _Parser(text).parse()

