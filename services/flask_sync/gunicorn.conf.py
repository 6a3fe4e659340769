"""gunicorn settings, all derived from the service settings (environment, read once)."""

import sys

from services.common import edges
from services.common.settings import SettingsError, WorkerClass, get_settings

try:
    _settings = get_settings()
except SettingsError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)

wsgi_app = "services.flask_sync.app:create_app()"
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = _settings.worker_class.value
# gunicorn turns a sync worker with threads > 1 into a gthread one: keep sync truly sync.
threads = _settings.thread_count if _settings.worker_class is WorkerClass.gthread else 1
keepalive = _settings.keepalive
backlog = 2048  # uvicorn's default, so both queue the same number of connections
# What uvicorn accepts, gunicorn accepts (services/common/edges.py): no 414/431 pages.
limit_request_line = edges.REQUEST_LINE_LIMIT
limit_request_field_size = edges.HEADER_FIELD_LIMIT
limit_request_fields = edges.HEADER_FIELDS_LIMIT
graceful_timeout = 5
timeout = 60
accesslog = None  # access logs are off on both services
errorlog = "-"
loglevel = "warning"
control_socket_disable = True  # gunicorn >= 25 would create ~/.gunicorn/gunicorn.ctl
proc_name = "loadtests-flask"
