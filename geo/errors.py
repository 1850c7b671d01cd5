"""One error hierarchy for riskmap, named after the things that fail.

Every error carries a message that says what failed, where, and how to fix it. HTTP codes
for these live only in `api/`.
"""

from __future__ import annotations


class RiskmapError(Exception):
    """Base class of every error riskmap raises on purpose."""


class InputRejected(RiskmapError):
    """An input file cannot be read at all (as opposed to single bad rows, which are reported)."""


class InputFormatUnknown(InputRejected):
    """The file's format cannot be told from its name or content."""


class CRSUnknown(RiskmapError):
    """A coordinate reference system name or code that riskmap does not understand."""


class BoundaryNotFound(RiskmapError):
    """An administrative code or boundary that is not in the store or in the source package."""


class BoundaryCheckFailed(RiskmapError):
    """Imported boundaries fail a consistency check (codes, validity, coverage)."""


class StoreError(RiskmapError):
    """The store directory is missing, unreadable, or holds something unexpected."""


class StoreEmpty(StoreError):
    """An operation needs data that has not been ingested or built yet."""


class ModelInvalid(RiskmapError):
    """A scoring model file fails validation."""


class CalibrationRejected(RiskmapError):
    """A census the regional constants cannot be fitted to, or a calibrated model that cannot be kept where asked."""


class UnitNotFound(RiskmapError):
    """An enterprise, hazard site or region id that is not in the snapshot."""


class StylesInvalid(ModelInvalid):
    """The map styles file fails validation (a kind of ModelInvalid)."""


class ExportRejected(RiskmapError):
    """An export that cannot be written as asked (unknown layer or format, a CRS the format cannot hold)."""


class FontMissing(RiskmapError):
    """No font that can draw Chinese text is installed (Debian: fonts-wqy-zenhei)."""


class MapRejected(RiskmapError):
    """A map request that cannot be drawn (unknown level, domain, mode or language)."""


class AssetMissing(RiskmapError):
    """A front-end asset (Leaflet, the map script) is not installed."""


class AlertRulesInvalid(ModelInvalid):
    """The prompt rules file (alerts.toml) fails validation (a kind of ModelInvalid)."""
