"""The library's shape, checked from its source: imports point one way, no Streamlit in core/, thin pages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
# Each package may import its own layer and the layers before it; inference and engine share a layer, but
# inference must never need the training code.
LAYERS = {"config": 0, "errors": 0, "data": 1, "models": 2, "runs": 3, "inference": 4, "engine": 4, "study": 5,
          "jobs": 6, "estimate": 6, "cli": 6, "__main__": 7, "__init__": 0}  # fmt: skip


def package_of(path: Path) -> str:
    return path.relative_to(CORE).parts[0].removesuffix(".py")


def core_imports(path: Path, source: str | None = None) -> set[str]:
    """The core packages a module imports (absolute `core.x` or relative `..x` / `.x`)."""
    tree = ast.parse(path.read_text() if source is None else source)
    own = package_of(path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.split(".")[0] == "core":
                parts = node.module.split(".")[1:] or [alias.name for alias in node.names]
                found.add(parts[0])
            elif node.level == 1 and path.parent != CORE:
                found.add(own)  # a sibling in the same package
            elif node.level >= 1:
                names = (node.module or "").split(".") if node.module else [a.name for a in node.names]
                found.add(names[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("core.")}
    return found


def all_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names


MODULES = sorted(CORE.rglob("*.py"))


def wrong_way(path: Path, source: str | None = None) -> list[str]:
    own = package_of(path)
    return [t for t in core_imports(path, source) if LAYERS[t] > LAYERS[own] or (own, t) == ("inference", "engine")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path):
    assert wrong_way(path) == [], f"{path.relative_to(ROOT)} imports a later layer"


def test_no_streamlit_in_the_library():
    assert not [p for p in MODULES if "streamlit" in all_imports(p)]


def test_pages_are_thin():
    pages = sorted((ROOT / "app_pages").glob("*.py"))
    assert pages and all(len(p.read_text().splitlines()) <= 200 for p in pages)


@pytest.mark.parametrize(
    ("module", "source", "caught"),
    [
        ("data/sources.py", "from ..engine.loop import run_experiment", ["engine"]),
        ("inference/letters.py", "from ..engine.loop import evaluate", ["engine"]),
        ("runs/index.py", "from core.study import report", ["study"]),
        ("engine/loop.py", "from ..inference.runtime import predict_logits", []),
    ],
)
def test_the_check_catches_a_wrong_way_import(module, source, caught):
    assert wrong_way(CORE / module, source) == caught


def test_each_command_is_a_module_that_registers_its_own_arguments():
    """core/cli/: one module per command, its arguments beside its handler, none over 300 lines."""
    from core import cli

    modules = sorted((CORE / "cli").glob("*.py"))
    assert all(len(p.read_text().splitlines()) <= 300 for p in modules), "a CLI module over 300 lines"
    names = {command.__name__.rsplit(".", 1)[1] for command in cli.COMMANDS}
    assert names == {p.stem for p in modules} - {"__init__", "flags", "progress"}
    for command in cli.COMMANDS:
        assert callable(command.register) and any(n.startswith("cmd_") for n in vars(command))


def test_only_the_run_record_writes_meta_json():
    """Figures added after training go through core/runs (amend.py), never a command's own file writes."""
    writers = [p for p in MODULES if "write_record(" in p.read_text() or "META_FILE, record" in p.read_text()]
    assert {p.relative_to(CORE).as_posix() for p in writers} == {"runs/checkpoint.py", "runs/amend.py"}


def test_the_face_detector_is_a_seam():
    """OpenCV's cascade is built in one module; the emotion reader and the in-frames study take any FaceDetector."""
    import inspect

    from core.inference.emotions import EmotionDetector
    from core.study.in_frames import framed_faces, matching_face

    assert [p.relative_to(CORE).as_posix() for p in MODULES if "CascadeClassifier" in p.read_text()] == [
        "inference/faces.py"
    ]
    for function, name in ((EmotionDetector.__init__, "face_detector"), (framed_faces, "face_detector"),
                           (matching_face, "finder")):  # fmt: skip
        assert "FaceDetector" in str(inspect.signature(function).parameters[name].annotation)


def test_the_project_is_installed_and_nothing_edits_sys_path():
    """`make` installs the project in editable mode; no test, benchmark or page puts it on sys.path by hand."""
    from importlib.metadata import distribution

    dist = distribution("letters-and-faces")
    assert any(e.value == "core.cli:main" for e in dist.entry_points)
    scripts = [
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("ui/*.py"),
        ROOT / "streamlit_app.py",
    ]
    edits = ("sys.path." + "insert", "sys.path." + "append")  # spelt apart: this file names them
    assert not [p.name for p in scripts if any(edit in p.read_text() for edit in edits)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph() -> dict[str, set[str]]:
    """Which core modules each core module imports, lazy (in-function) imports included."""
    names = {module_name(p) for p in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        me = module_name(path)
        package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in names else base)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[me] = {n for n in found if n in names and n != me and not me.startswith(n + ".")}
    return graph


def test_no_import_circle():
    """No module imports (directly or through others, lazily or not) a module that imports it back."""
    graph, circles = module_graph(), []

    def visit(node, path):
        for nxt in graph.get(node, ()):
            if nxt == path[0]:
                circles.append(" -> ".join([*path, nxt]))
            elif nxt not in path and len(path) < 8:
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    assert not circles, circles[:5]


def test_each_experiment_field_is_declared_once():
    """A field's flag, help, choices and range live beside it (core.config.setting); the parser, the checks and
    the command a run prints are derived from there."""
    from core.cli import build_parser
    from core.config import CHOICES, FLAG_BY_FIELD, Experiment, field_type, settings
    from core.errors import ConfigError

    declared = settings()
    assert set(FLAG_BY_FIELD) == {name for name, spec in declared.items() if spec.flag}
    train = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    parsed = {a.dest: a for a in train._actions}
    for name, allowed in CHOICES.items():
        assert tuple(parsed[name].choices) == allowed
    for name, spec in declared.items():
        if spec.rule and spec.low is not None:  # just below the range: refused with the declared words
            below = spec.low - (1 if field_type(name) is int else 0.01)
            with pytest.raises(ConfigError) as refused:
                Experiment(**{name: below if not spec.open_low else spec.low})
            assert str(refused.value).endswith(f"must be {spec.rule}"), (name, str(refused.value))


def test_one_model_registry():
    """Every network is named once (core.config.MODEL_REGISTRY) and built by core.models.BUILDERS."""
    from core.config import MODEL_NAMES, MODELS, Experiment
    from core.models import BUILDERS, build_model

    assert set(BUILDERS) == set(MODEL_NAMES) == {m for models in MODELS.values() for m in models}
    for task, models in MODELS.items():
        for model in models:
            config = Experiment(task=task, model=model, img_size=None if task == "notmnist" else 32)
            assert build_model(config, 7, load_weights=False).eval()(torch_zeros(config)).shape == (1, 7)


def torch_zeros(config):
    import torch

    return torch.zeros(1, 1, config.image_size, config.image_size)


def test_no_function_in_the_library_is_over_80_lines():
    functions = [(path, node) for path in MODULES for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]  # fmt: skip
    long = [f"{path.relative_to(ROOT)}:{node.name}" for path, node in functions if node.end_lineno - node.lineno >= 80]
    assert not long, long
