"""Benchmark of the intent engine against a scikit-learn baseline and bare jieba, in one run.

    .venv/bin/python benchmarks/intents_bench.py [--messages 20000] [--json]

Quality: the engine and a character n-gram TF-IDF + LinearSVC baseline (trained on the tuning part), both
evaluated on the held-out part, and the engine with the baseline's emergencies (a rule written down before
held-out v15 existed, scored on every blind set since). Speed: messages per CPU-second on one core and
per-call latency, for the engine (all messages and messages with no keyword hit), its shorter pipelines
(without the override; without the intent second opinion; the keywords alone) and the intent model alone (the
rule study, `intents_rule_study.py`, scores each one's labels on the blind sets), the baseline (one message
per call, as a bot classifies, and in one batch) and bare `jieba.lcut` (default tokenizer, HMM on and off).
The engine and jieba are measured interleaved (`intents.bench.compare`, 7 rounds) and the median is quoted
with its ratio to bare `jieba.lcut` in the same run, which survives a noisy shared machine better than any
absolute figure. Speed uses the held-out messages, or the tuning messages when there is no held-out set
(between folding one into the tuning part and receiving the next). Start-up: a cold load (empty tokenizer
cache) and a warm load (cache present) in fresh processes, and a second load in the same process.
scikit-learn and psutil are the `bench` extra, not runtime dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import intents  # noqa: E402
from intents import Intent, IntentEngine, normalize  # noqa: E402
from intents.bench import compare, measure  # noqa: E402
from intents.evaluate import Report, evaluate, read_corpus  # noqa: E402

DATA = ROOT / "tests" / "data"

_STARTUP = """
import json, sys, time
t0 = time.perf_counter()
from intents import IntentEngine
t1 = time.perf_counter()
engine = IntentEngine.load(cache_dir=__import__("pathlib").Path(sys.argv[1]))
t2 = time.perf_counter()
engine.warm()
engine.classify("2单元楼道灯坏了好几天了")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "lexicon_s": t2 - t1, "tokenizer_s": t3 - t2, "total_s": t3 - t0,
                  "from_cache": engine.segmenter.loaded_from_cache}))
"""


def startup(cache_dir: str, root: Path = ROOT) -> dict[str, Any]:
    """The start-up figures of the engine of the checkout at `root`, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP, cache_dir],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _quality(report: Report) -> dict[str, float]:
    return {
        "accuracy": round(report.accuracy, 4),
        "macro_f1": round(report.macro_f1, 4),
        "false_ticket_rate": round(report.false_ticket_rate, 4),
        "emergency_recall": round(report.emergency_recall, 4),
    }


def run(total: int, *, baseline: bool = True) -> dict[str, Any]:
    tuning = read_corpus(DATA / "intents_tuning.jsonl")
    heldout_path = DATA / "intents_heldout.jsonl"
    heldout = read_corpus(heldout_path) if heldout_path.exists() else []
    # A held-out set already folded into the tuning part (kept until the next blind set replaces it) is
    # still used for speed, but its quality figures are tuning figures: reported as such.
    tuned = {normalize(ex.text) for ex in tuning}
    folded = bool(heldout) and all(normalize(ex.text) in tuned for ex in heldout)
    texts = [ex.text for ex in (heldout or tuning)]
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_avg_before": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "hot_path": intents.IMPLEMENTATION,  # compiled (mypyc) or pure: `intents.native`
        },
        "corpus": {
            "tuning": len(tuning),
            "heldout": len(heldout),
            "heldout_folded_into_tuning": folded,
            "speed_on": "heldout" if heldout else "tuning",
            "speed_messages": len(texts),
        },
    }

    # Start-up: cold (no cache), warm (cache present) in fresh processes; second load in this process.
    with tempfile.TemporaryDirectory() as cache:
        results["startup"] = {"cold": startup(cache), "warm": startup(cache)}
    IntentEngine.load(warm=True)
    start = time.perf_counter()
    engine = IntentEngine.load(warm=True)
    results["startup"]["second_load_in_process_s"] = round(time.perf_counter() - start, 3)
    try:
        import psutil

        results["startup"]["rss_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
    except ImportError:  # pragma: no cover - bench extra
        pass

    # The engine.
    def engine_predict(text: str) -> tuple[Intent, float]:
        result = engine.classify(text)
        return result.intent, result.confidence

    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    start = time.perf_counter()
    jieba.initialize()
    jieba_init = time.perf_counter() - start

    silent = [t for t in texts if not engine.prefilter(t)]
    intent_model = engine.intent_model

    def intent_model_alone(text: str) -> Any:
        # What the learned model costs by itself (a label, no keywords, flags or places): the prepared
        # text and its 17 probabilities. The rule study scores its label ("I") on the blind sets.
        return intent_model.scored(engine.prepare(text)) if intent_model is not None else None

    fns = {
        "engine": engine.classify,
        "engine_no_override": engine.classify_opinions,
        # The same engine without its intent second opinion (keywords + emergency second opinion), and
        # without both (the keyword result alone), interleaved with it so the cost of each shows.
        "engine_no_intent_model": engine.classify_emergency,
        "engine_keywords_only": engine.classify_keywords,
        "intent_model_alone": intent_model_alone,
        "jieba_hmm": jieba.lcut,
        "jieba_no_hmm": lambda t: jieba.lcut(t, HMM=False),
    }
    corpora = {
        "engine": texts,
        "engine_no_override": texts,
        "intent_model_alone": texts,
        "engine_no_intent_model": texts,
        "engine_keywords_only": texts,
        "jieba_hmm": texts,
        "jieba_no_hmm": texts,
    }
    if silent:
        fns["engine_silent"] = engine.classify
        corpora["engine_silent"] = silent
    speed = compare(fns, corpora, total)
    ratio = speed["engine"]["per_s_cpu_median"] / speed["jieba_hmm"]["per_s_cpu_median"]
    results["engine"] = {
        "quality": _quality(evaluate(heldout, engine_predict)) if heldout else None,
        "speed": speed["engine"],
        "ratio_to_jieba_lcut": round(ratio, 2),
        "ratio_to_jieba_lcut_no_hmm": round(
            speed["engine"]["per_s_cpu_median"] / speed["jieba_no_hmm"]["per_s_cpu_median"], 2
        ),
    }
    results["engine"]["keywords_only"] = speed["engine_keywords_only"]
    results["engine"]["no_override"] = speed["engine_no_override"]
    results["engine"]["intent_model_alone"] = speed["intent_model_alone"]
    results["engine"]["no_intent_model"] = speed["engine_no_intent_model"]
    results["engine"]["no_keyword_hit"] = {"messages_in_corpus": len(silent)}
    if silent:
        results["engine"]["no_keyword_hit"].update(speed["engine_silent"])

    results["jieba_lcut"] = {
        "init_s": round(jieba_init, 3),
        "speed_hmm": speed["jieba_hmm"],
        "speed_no_hmm": speed["jieba_no_hmm"],
    }
    results["baseline"] = None
    if baseline:
        results["baseline"] = _baseline(tuning, heldout, texts, total, engine_predict)
    results["machine"]["load_avg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return results


def _baseline(
    tuning: list[Any],
    heldout: list[Any],
    texts: list[str],
    total: int,
    engine_predict: Callable[[str], tuple[Intent, float]],
) -> dict[str, Any]:
    """The scikit-learn baseline, trained on the tuning part only; also the rule written down before held-out
    v15 existed (docs/benchmarks.md): the engine's result, but emergency whenever the baseline says so."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from intents import normalize

    start = time.perf_counter()
    model = make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, preprocessor=normalize),
        LinearSVC(C=1.0, class_weight="balanced"),
    )
    model.fit([ex.text for ex in tuning], [str(ex.intent) for ex in tuning])
    train_s = time.perf_counter() - start

    def baseline_predict(text: str) -> tuple[Intent, float]:
        return Intent(model.predict([text])[0]), 1.0

    def override_predict(text: str) -> tuple[Intent, float]:
        intent, confidence = baseline_predict(text)
        return (intent, confidence) if intent is Intent.EMERGENCY else engine_predict(text)

    baseline_quality = _quality(evaluate(heldout, baseline_predict)) if heldout else None
    override_quality = _quality(evaluate(heldout, override_predict)) if heldout else None

    start_cpu = time.process_time()
    model.predict(texts * 20)
    batch_per_s = round(len(texts) * 20 / (time.process_time() - start_cpu))
    return {
        "model": "TfidfVectorizer(char 1-3, sublinear) + LinearSVC(class_weight=balanced)",
        "train_s": round(train_s, 3),
        "quality": baseline_quality,
        "engine_with_its_emergencies_quality": override_quality,
        "speed": measure(lambda t: model.predict([t]), texts, max(2000, total // 10)),
        "batch_per_s_cpu": batch_per_s,
    }


def markdown(r: dict[str, Any]) -> str:
    e, b, j = r["engine"], r["baseline"] or {}, r["jieba_lcut"]
    s = r["startup"]
    folded_in = r["corpus"].get("heldout_folded_into_tuning")
    folded = " (folded into the tuning part: not blind)" if folded_in else ""
    lines = [
        f"Held-out: {r['corpus']['heldout']} messages; tuning: {r['corpus']['tuning']} messages; "
        f"speed on the {r['corpus']['speed_on']} messages ({r['corpus']['speed_messages']}). "
        f"Python {r['machine']['python']}, {r['machine']['cores']} cores, "
        f"load average before/after {r['machine']['load_avg_before']} / {r['machine']['load_avg_after']}; "
        f"hot path: {r['machine'].get('hot_path', 'pure')}.",
        "",
        f"| held-out quality{folded} | accuracy | macro-F1 | false-ticket rate | emergency recall |",
        "|---|---|---|---|---|",
    ]
    for name, q in (
        ("intent engine", e["quality"]),
        ("TF-IDF + LinearSVC", b.get("quality")),
        ("intent engine, emergency when the baseline says so", b.get("engine_with_its_emergencies_quality")),
    ):
        if q is None:
            lines.append(f"| {name} | no held-out set | | | |")
            continue
        lines.append(
            f"| {name} | {q['accuracy']:.3f} | {q['macro_f1']:.3f} | {q['false_ticket_rate']:.1%} "
            f"| {q['emergency_recall']:.1%} |"
        )
    lines += [
        "",
        "| speed, one core | messages/s (CPU, median of 7) | best of 7 | p50 µs | p99 µs | wall p99 µs |",
        "|---|---|---|---|---|---|",
    ]
    rows = [
        ("intent engine, all messages", e["speed"]),
        ("intent engine without the emergency override", e["no_override"]),
        ("intent engine without the intent second opinion", e["no_intent_model"]),
        ("intent engine without either second opinion (keywords only)", e["keywords_only"]),
        ("the intent model alone (its label only)", e["intent_model_alone"]),
        (
            f"intent engine, no keyword hit ({e['no_keyword_hit']['messages_in_corpus']} msgs)",
            e["no_keyword_hit"],
        ),
        ("TF-IDF + LinearSVC, one message per call", b.get("speed", {})),
        ("bare jieba.lcut (HMM on)", j["speed_hmm"]),
        ("bare jieba.lcut (HMM off)", j["speed_no_hmm"]),
    ]
    for name, m in rows:
        if "per_s_cpu" not in m:
            continue
        if "p50_us_median_run" in m:  # interleaved: latencies of the median run
            lines.append(
                f"| {name} | {m['per_s_cpu_median']:,.0f} | {m['per_s_cpu']:,} | {m['p50_us_median_run']} "
                f"| {m['p99_us_median_run']} | {m['p99_us_wall_median_run']} |"
            )
        else:  # measured alone: best of 5, median of 5
            lines.append(
                f"| {name} | {m['per_s_cpu_median']:,.0f} (of 5) | {m['per_s_cpu']:,} (of 5) | {m['p50_us']} "
                f"| {m['p99_us']} | {m['p99_us_wall']} |"
            )
    lines += [
        "",
        f"Engine / bare jieba.lcut, medians of the same interleaved run: {e['ratio_to_jieba_lcut']:.2f}× "
        f"(HMM on), {e['ratio_to_jieba_lcut_no_hmm']:.2f}× (HMM off).",
        "",
        f"Baseline in one batch: {b['batch_per_s_cpu']:,} messages/s; "
        f"training on the tuning part {b['train_s']} s."
        if b
        else "Baseline not run (--no-baseline).",
        "",
        "| start-up | import | lexicon + automaton | tokenizer + first message | total |",
        "|---|---|---|---|---|",
    ]
    for name in ("cold", "warm"):
        x = s[name]
        lines.append(
            f"| {name} ({'cache present' if x['from_cache'] else 'no cache'}) | {x['import_s']:.3f} s "
            f"| {x['lexicon_s']:.3f} s | {x['tokenizer_s']:.3f} s | {x['total_s']:.3f} s |"
        )
    lines.append(
        f"\nSecond load in the same process: {s['second_load_in_process_s']} s; "
        f"RSS after two engines: {s.get('rss_mb', '?')} MB; bare jieba.initialize(): {j['init_s']} s."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000, help="classifications per speed figure")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--no-baseline", action="store_true", help="skip the scikit-learn baseline")
    args = parser.parse_args()
    results = run(args.messages, baseline=not args.no_baseline)
    print(json.dumps(results, ensure_ascii=False, indent=2) if args.json else markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
