"""Image sizes: measured in the registry (``measure``), kept as a history with baselines (``history``), judged
against budgets and growth allowances (``budget``), reported as tables, Markdown and a plot (``report``),
and recorded at the end of a run (``run_summary``)."""
