"""``fingerprint`` names the dialect a port implements; ``matrix`` shows the known dialect differences."""
import json

from conformance.cli import main
from conformance.families import dtypes_of
from conformance.fingerprint import family_dtypes, matrix

P = "tests.ports.kernel_ports:"


def fingerprint(target, tmp_path):
    code = main(["fingerprint", P + target, "--json", str(tmp_path / "f.json")])
    return code, json.loads((tmp_path / "f.json").read_text())


def test_faithful_mxnet2_port_matches_mxnet2_only(tmp_path):
    code, fp = fingerprint("faithful", tmp_path)
    assert code == 0 and fp["matches"] == ["mxnet2"]


def test_epsilon_inside_the_root_is_nearly_mxnet1(tmp_path):
    # mxnet2 with mxnet1's epsilon placement: it departs from mxnet1 only where weight decay
    # meets clipping (mxnet1 decays before clipping)
    code, fp = fingerprint("eps_inside", tmp_path)
    assert code == 1 and fp["matches"] == []
    assert fp["dialects"]["mxnet2"]["epsilon-large"] == "departs"
    assert [f for f, v in fp["dialects"]["mxnet1"].items() if v != "match"] == ["weight-decay-and-clip"]


def test_a_port_matching_nothing_exits_1(tmp_path):
    code, fp = fingerprint("swap_rho", tmp_path)
    assert code == 1 and fp["matches"] == []


def test_matrix_shows_the_documented_differences():
    t = matrix()
    assert t["epsilon-large"][("mxnet2", "mxnet1")] == set()          # epsilon inside vs outside the root
    assert t["epsilon-large"][("mxnet1", "keras")] >= {"float16", "float32"}
    assert t["clip-gradient"][("mxnet2", "torch")] is None             # torch has no clipping
    assert t["centered"][("mxnet2", "mxnet1")] == {"float16", "float32", "float64"}
    assert "float64" not in t["plain"][("mxnet2", "mxnet2-step")]      # float32 vs double hyperparameters
    assert t["float16-overflow"][("paddle", "mxnet2")] is None         # Paddle's CPU kernel has no float16
    assert t["clip-zero"][("paddle", "mxnet2")] is None                # ClipGradByValue refuses max=0
    assert t["plain"][("paddle", "tensorflow")] == {"float32"}         # float64: Paddle's float32 attributes
    assert t["weight-decay"][("keras", "keras-tf")] == {"float16", "float32"}  # float64: tf.cast via float32
    for fam, row in t.items():                                         # symmetric, and every dialect agrees with itself
        for (a, b), v in row.items():
            assert v == row[(b, a)]
            if a == b and v is not None:
                assert v == set(family_dtypes(fam)) & set(dtypes_of(a))
