import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# With DEBUG off, refuse to serve while a published demo authenticator is enrolled.
from django.db import connections  # noqa: E402

from accounts.checks import refuse_demo_secrets  # noqa: E402

refuse_demo_secrets()
connections.close_all()  # a master that preloads the app must not hand its connection to forks
