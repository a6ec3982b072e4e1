"""What happens to a repository after `ftplan scaffold`: the record of what ftplan generated (manifest.py),
three-way merges (merge.py), `ftplan update` (update.py), `ftplan export` (export.py)."""
