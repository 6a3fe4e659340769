"""Everything that runs inside the Locust processes: the locustfile, the scenarios, the
rising-concurrency shape, the recorder and the hooks that wire it to Locust's events.

Importing Locust monkey-patches the process with gevent, so the runner never imports
this package; it starts Locust with ``-f loadtests/locust/locustfile.py`` and reads the
JSON it writes (a test checks that the runner's imports stay clean).
"""
