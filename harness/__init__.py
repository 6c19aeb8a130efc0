"""Controller-side harness: specs, cluster control, load, traces, analysis, reports."""
