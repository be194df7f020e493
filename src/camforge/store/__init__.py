"""Results database: designs (by content hash), runs and measurements.

SQLite file by default — ``$CAMFORGE_DB``, else ``~/.local/share/camforge/results.db``
(``$XDG_DATA_HOME/camforge/results.db``) — or any SQLAlchemy URL, e.g.
``postgresql://user:pass@host:5432/camforge`` for a team. The schema is migrated on open
(:mod:`camforge.store.migrations`).

    >>> from camforge.store import Store
    >>> store = Store("sqlite:///results.db")                              # doctest: +SKIP
    >>> with store.run(camera.design, kind="evaluate", plan=plan) as run:  # doctest: +SKIP
    ...     run.add_metrics({"mtf50_cy_per_px": {"value": 0.31, "unit": "cy/px"}},
    ...                     condition={"chart": "slanted-edge", "lux": 100, "illuminant": "D65"})
    >>> store.export("results.parquet")                                    # doctest: +SKIP

See :mod:`camforge.store.store` for the guarantees (transactions, crashes, concurrency).
"""

from camforge.store._json import canonical_json, condition_key, design_hash
from camforge.store.engine import default_db_path, resolve_url
from camforge.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from camforge.store.models import RUN_STATUSES
from camforge.store.store import (
    EXPORT_FORMATS,
    MEASUREMENT_KEYS,
    ArtifactRecord,
    DesignRecord,
    ExportResult,
    MeasurementRecord,
    MetricSummary,
    RunDetail,
    RunHandle,
    RunRecord,
    Store,
    normalize_measurement,
    rows_from_metrics,
)

__all__ = [
    "EXPORT_FORMATS",
    "LATEST_VERSION",
    "MEASUREMENT_KEYS",
    "MIGRATIONS",
    "RUN_STATUSES",
    "ArtifactRecord",
    "DesignRecord",
    "ExportResult",
    "MeasurementRecord",
    "MetricSummary",
    "Migration",
    "RunDetail",
    "RunHandle",
    "RunRecord",
    "Store",
    "canonical_json",
    "condition_key",
    "default_db_path",
    "design_hash",
    "normalize_measurement",
    "resolve_url",
    "rows_from_metrics",
]
