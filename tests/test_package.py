"""The package as its users meet it: the README's example, the quickstart, the public names."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import kudos_chain

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_library_example_runs_as_written():
    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks, "the README has no Python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["token"].owner == namespace["alice"].address  # type: ignore[attr-defined]


def test_the_quickstart_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "verified: True" in out
    assert "https://kudos.acme.example/v1/tokens/1" in out


def test_every_exported_name_exists_and_is_documented():
    for name in kudos_chain.__all__:
        member = getattr(kudos_chain, name)
        if callable(member):
            assert member.__doc__, f"{name} has no docstring"
    public = {n for n in dir(kudos_chain) if not n.startswith("_")}
    modules = {"chain", "client", "embedded", "exceptions", "keys", "metadata", "transactions", "types", "indexer"}
    modules.add("testing")  # kudos_chain.testing, a subpackage: present once imported (tests/conftest.py does)
    assert public - modules == set(kudos_chain.__all__)


def test_every_exception_is_a_kudos_error():
    for name in kudos_chain.__all__:
        member = getattr(kudos_chain, name)
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, kudos_chain.KudosError), name


def test_the_package_is_typed():
    assert (Path(kudos_chain.__file__).parent / "py.typed").exists()
