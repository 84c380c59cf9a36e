"""Metric tables as the command-line tools print them."""


def format_table(scores: dict[str, float], title: str = "") -> str:
    """A two-column metric table; metrics that were asked for but could not run (a scorer's
    `scores.not_computed`: name -> reason) are listed as not computed."""
    not_computed = getattr(scores, "not_computed", {})
    width = max([len(k) for k in [*scores, *not_computed]] + [6])
    lines = [title] if title else []
    lines += [f"{name:<{width}}  {value:>9.4f}" for name, value in scores.items()]
    lines += [f"{name:<{width}}  not computed ({reason})" for name, reason in not_computed.items()]
    return "\n".join(lines)


def metric_table(rows: dict[str, dict[str, float]]) -> str:
    """Rows of systems, columns of metrics."""
    metrics = list(next(iter(rows.values())))
    lines = [f"{'system':<12}" + "".join(f"{m:>10}" for m in metrics)]
    lines += [f"{name:<12}" + "".join(f"{scores[m]:>10.4f}" for m in metrics) for name, scores in rows.items()]
    return "\n".join(lines)
