"""Zuul's REST API: one build's record, and where its logs are.

``GET <api>/build/<uuid>`` answers with one build.  Newer Zuul nests the
change under ``ref``; older Zuul put ``project``, ``branch``, ``change``,
``patchset`` at the top level: both are read, and ``change``/``patchset``
become strings.  A finished build never changes, so its record is cached by
its id.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import urllib.parse
from typing import Any

from giftwrap.api import HttpClient
from giftwrap import errors
from giftwrap.resolve.http import is_remote

LOG = logging.getLogger(__name__)

_UUID = re.compile(r'^[0-9a-f]{6,64}\Z')


@dataclasses.dataclass(frozen=True)
class Build:
    """A Zuul build record.

    :ivar log_url: the build's log directory (ends in ``/``), or ``None``
        when it has none (a skipped build, a node failure).
    :ivar final: ``False`` for a build Zuul retried.
    """

    uuid: str
    job_name: str
    result: str | None
    log_url: str | None
    pipeline: str
    project: str
    branch: str
    change: str
    patchset: str
    end_time: str
    final: bool = True

    @classmethod
    def from_json(cls, data: Any, source: str) -> 'Build':
        """Read either shape of a build record.

        :raises giftwrap.errors.ResolveError: not a build record.
        """
        if not isinstance(data, dict) or not isinstance(
                data.get('uuid'), str) or not isinstance(
                data.get('job_name'), str):
            raise errors.ResolveError(
                f'{source} is not a Zuul build record (no uuid and job_name): '
                f'{str(data)[:80]}', hint='check zuul_api: it must be a Zuul '
                'tenant API URL, like https://zuul.opendev.org/api/tenant/openstack')
        ref = data['ref'] if isinstance(data.get('ref'), dict) else data
        log_url = data.get('log_url')
        if isinstance(log_url, str) and log_url and not is_remote(log_url):
            # giftwrap reads local files too; an answer must not choose one.
            raise errors.ResolveError(
                f'{source} gives the log_url {log_url[:200]!r}, which is not '
                'an http(s) URL', hint='check zuul_api: it must be a Zuul '
                'tenant API URL; a build\'s logs are only fetched over '
                'http(s)')
        if isinstance(log_url, str) and log_url and not log_url.endswith('/'):
            log_url += '/'
        return cls(
            uuid=data['uuid'], job_name=data['job_name'],
            result=_str(data.get('result')) or None,
            log_url=log_url if isinstance(log_url, str) and log_url else None,
            pipeline=_str(data.get('pipeline')), project=_str(ref.get('project')),
            branch=_str(ref.get('branch')), change=_str(ref.get('change')),
            patchset=_str(ref.get('patchset')),
            end_time=_str(data.get('end_time')),
            final=data.get('final') is not False)


def _str(value: Any) -> str:
    return '' if value is None else str(value)


class Zuul:
    """Reads of one Zuul tenant's API (``.../api/tenant/openstack``).

    :param cache_scope: the commit being built, for caching build searches
        (whose answers can grow); ``None`` caches no search.
    """

    def __init__(self, http: HttpClient, api_url: str, *,
                 cache_scope: str | None = None):
        self.http = http
        self.api_url = api_url.rstrip('/')
        self.cache_scope = cache_scope

    def build(self, uuid: str) -> Build:
        """The build ``uuid``.

        :raises giftwrap.errors.ResolveError: no such build, or an answer
            that is not a build record.
        """
        if not _UUID.match(uuid):
            raise errors.ResolveError(f'{uuid!r} is not a Zuul build id')
        url = f'{self.api_url}/build/{uuid}'
        data = self.http.get_json(url, cache_key=f'zuul:{url}', what='Zuul')
        build = Build.from_json(data, url)
        if build.uuid != uuid:
            raise errors.ResolveError(
                f'{url} answered with build {build.uuid}, not {uuid}',
                hint='check zuul_api')
        return build

    def find_build(self, *, project: str, change: int, patchset: int,
                   pipeline: str, job_name: str) -> Build | None:
        """The latest final successful build of ``job_name`` on a patch set.

        For reports that do not link their builds.
        """
        query = urllib.parse.urlencode({
            'project': project, 'change': change, 'patchset': patchset,
            'pipeline': pipeline, 'job_name': job_name, 'result': 'SUCCESS',
            'limit': 50})
        url = f'{self.api_url}/builds?{query}'
        key = f'zuul:{self.cache_scope}:{url}' if self.cache_scope else None
        data = self.http.get_json(url, cache_key=key, what='Zuul')
        if not isinstance(data, list):
            raise errors.ResolveError(
                f'{url} is not a list of Zuul builds: {str(data)[:80]}',
                hint='check zuul_api')
        # Zuul lists the newest first; a retried build is not final.
        for item in data:
            build = Build.from_json(item, url)
            if build.final and build.job_name == job_name:
                return build
        return None
