"""The yardstick's side of a gate run: which cells, on which inputs, judged against which answer.

Runs in one worker of the yardstick's tree (the base's, unless --accept-yardstick-change): it
expands the selection into cells, draws every cell's inputs once and writes them for both sides,
keeps the float64 oracle's answer, and measures each side's outputs against it with its own error
metrics and tolerance. A side never judges itself.
"""

from __future__ import annotations

from pathlib import Path

from gate.selection import GATE_PRESET, default_cells, impl_files, sweep_cells
from gate.tensors import input_hash, load_outputs, save_inputs


def tolerance_of(problem, answer: dict | None = None) -> dict:
    """The tolerance the sweep holds this cell to (bench.oracle_check): scaled by the oracle's largest logit."""
    from bench.oracle_check import cell_tolerance

    logit_max = (answer or {}).get("logit_max")
    return vars(cell_tolerance(problem, {"logit_max": None if logit_max is None else float(logit_max)}))


def oracle_answer(problem, q, k, v, grad_out) -> dict:
    """The float64 oracle's output (and dq, dk, dv in fwd+bwd), as the sweep checks them (bench.oracle_check)."""
    import torch

    from bench.oracle_check import ORACLE_GRAD_ELEMENTS, oracle_output, sample_rows, score_elements
    from impls import reference_grads

    rows = sample_rows(problem)
    output, logit_max = oracle_output(problem, q, k, v, rows)
    answer = {"output": output}
    if logit_max is not None:  # a 0-d tensor, so the answer's hash covers it
        answer["logit_max"] = torch.tensor(logit_max, dtype=torch.float64)
    if rows is not None:
        answer["rows"] = rows
    if problem.needs_grad and score_elements(problem) <= ORACLE_GRAD_ELEMENTS:
        answer.update(zip(("dq", "dk", "dv"), reference_grads(problem, q, k, v, grad_out)))
    return answer


class Yardstick:
    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.answers: dict[str, dict] = {}
        self.problems: dict[str, object] = {}

    def select(self, options: dict, focus: dict | None = None, only: list[str] | None = None) -> dict:
        """The cells of ``options`` (the default: the gate preset, with ``focus``'s implementations given more cells;
        ``only``: just these implementations, by the same rule: those new on the other side)."""
        if options.get("preset", GATE_PRESET) == GATE_PRESET and not any(v for k, v in options.items() if k != "preset"):
            why = "every implementation: one cell" if only is None else "new on this side: one cell, by the yardstick's rule"
            chosen, not_gated = default_cells(focus or {}, only, why)
        else:
            chosen, not_gated = sweep_cells(options), []
        cells, seen = [], set()
        for problem, impl, why in chosen:
            cell_id = f"{impl.full_name}-{problem.id()}"
            if cell_id not in seen:
                seen.add(cell_id)
                cells.append({"id": cell_id, "index": len(cells), "impl": impl.full_name, "problem": problem.to_dict(),
                              "why": why})
        return {"cells": cells, "not_gated": not_gated}

    def files(self) -> dict:
        return {"files": impl_files(self.tree)}

    def prepare(self, cells: list[dict], seed: int, data: str) -> dict:
        """Draw every cell's inputs (written for both sides), keep the oracle's answer; the inputs' hash and tolerance."""
        import torch

        from impls import Problem

        found = []
        for cell in cells:
            problem = Problem.from_dict(cell["problem"])
            torch.manual_seed(seed)
            q, k, v = problem.make_inputs(seed)
            grad_out = problem.make_grad_output(seed) if problem.needs_grad else None
            save_inputs(Path(data), cell["index"], q, k, v, grad_out)
            answer = oracle_answer(problem, q, k, v, grad_out)
            self.answers[cell["id"]], self.problems[cell["id"]] = answer, problem
            found.append({"id": cell["id"], "input_hash": input_hash(q, k, v, grad_out), "tolerance": tolerance_of(problem, answer),
                          "oracle_hash": input_hash(*answer.values())})
        return {"cells": found}

    def judge(self, cells: list[dict], data: str, sides: list[str]) -> dict:
        """Error of each side's outputs against the oracle's answer: {cell id: {side: error}} (None: no outputs)."""
        return {"errors": {cell["id"]: {side: self.error_of(cell, load_outputs(Path(data), cell["index"], side))
                                        for side in sides} for cell in cells}}

    def error_of(self, cell: dict, outputs: dict | None) -> dict | None:
        from impls import errors

        if outputs is None:
            return None
        answer = self.answers[cell["id"]]
        rows = answer.get("rows")
        result = {"rows_checked": self.problems[cell["id"]].seq_len if rows is None else int(rows.numel())}
        if "logit_max" in answer:  # what the tolerance was scaled by
            result["logit_max"] = float(answer["logit_max"])
        for part, expected in answer.items():
            if part in ("rows", "logit_max") or part not in outputs:
                continue
            actual = outputs[part] if part != "output" or rows is None else outputs[part][:, :, rows]
            result[part] = errors(actual, expected)
        return result
