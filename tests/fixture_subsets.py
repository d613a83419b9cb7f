"""Small corpora cut from the committed one, for tests that run many ports: the chosen case
lines verbatim, each file's header with its new count, and a fresh manifest."""
import json
import os

from conformance.corpus import build_manifest

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures")


def cut_corpus(out, keep) -> str:
    """Write to ``out`` the committed cases for which ``keep(file name, case)`` is true (called
    in corpus order); returns ``out`` as a string."""
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(FIXTURES, name)) as f:
            header, *lines = f.read().splitlines()
        kept = [text for text in lines if keep(name, json.loads(text))]
        if kept:
            (out / name).write_text("\n".join([json.dumps(dict(json.loads(header), cases=len(kept)))] + kept) + "\n")
    (out / "MANIFEST.json").write_text(json.dumps(build_manifest(str(out))))
    return str(out)
