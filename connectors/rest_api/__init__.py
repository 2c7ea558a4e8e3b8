"""REST APIs: ``client`` (endpoint specs, pagination strategies, extract), ``http_transport`` (timeouts,
retries, auth), ``credentials`` (Airflow connections), ``family`` (landing files, watermarks, raw checks)."""

from connectors.rest_api.family import FAMILY
from connectors.rest_api.http_transport import ApiAuthError

__all__ = ["FAMILY", "ApiAuthError"]
