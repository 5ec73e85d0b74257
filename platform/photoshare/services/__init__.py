"""The service layer: every business rule of the platform, shared by the web views and
the REST API. Functions take their dependencies explicitly (a pymongo Database, an RQ
Queue, the settings mapping) and the id of the acting user; they never touch Flask's
request or session. Failures are raised as photoshare.services.errors.ServiceError.

Authorisation rule: every function that reads or changes a photo or an album filters
on `owner_id`, so another user's object is indistinguishable from a missing one
(NotFound, shown as 404, never 403). The one exception is services.sharing, which
serves public photos to anyone and filters on visibility instead.
"""
