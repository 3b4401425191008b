"""attnbench reports: result files → tidy frame → Pareto fronts, scaling laws, HTML page; and the regression gate.

``python -m reports build RESULT [RESULT ...]`` or ``reports.build.build_report([run_dir], out_dir)``.
This package never imports torch (the gate and reports run on light machines).
"""
