"""The Zuul configuration is valid YAML and runs tox envs that exist."""

import configparser
from pathlib import Path

import yaml

TOP = Path(__file__).parents[2]


def test_zuul_jobs_name_real_tox_envs_and_playbooks():
    config = yaml.safe_load((TOP / '.zuul.yaml').read_text())
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(TOP / 'tox.ini')
    envs = {s.split(':', 1)[1] for s in tox.sections() if ':' in s}
    envs.add('py3')
    jobs = [item['job'] for item in config if 'job' in item]
    (project,) = [item['project'] for item in config if 'project' in item]
    for job in jobs:
        assert job['vars']['tox_envlist'] in envs
        if 'run' in job:  # else the parent's tox playbook runs the env
            assert (TOP / job['run']).is_file()
            yaml.safe_load((TOP / job['run']).read_text())
    names = {j['name'] for j in jobs}
    for pipeline in ('check', 'gate'):
        local = [j for j in project[pipeline]['jobs'] if j.startswith('giftwrap')]
        assert set(local) <= names and local
