"""The API server's side of a jobs controller, by SkyPilot's own code; run
with HOME set to the server's home, each command writes JSON to OUTPUT.

``api_server_side.py controller-task OUTPUT``: what SkyPilot makes of its
plugin files for a jobs controller. The controller task is made as
``sky.jobs.server.core.launch`` makes it:
the template ``jobs-controller.yaml.j2`` filled with
``controller_utils.shared_controller_vars_to_fill()`` (which asks
``plugin_utils.get_plugin_mounts_and_commands()`` for the plugin wheels)
and read back with ``Task.from_yaml``. Only what describes the user's job
(its YAML, its id) is made up here. Also the command ``sky jobs queue``
runs on the controller (``ManagedJobCodeGen.get_job_table()``).

``api_server_side.py job-queue OUTPUT PAYLOAD...``: the job queues the API
server reads from what that command printed (each file PAYLOAD), as
``sky.jobs.server.core`` reads them (``load_managed_job_queue``).
"""

import json
import os
import sys
import tempfile
from typing import List


def controller_task(output: str) -> None:
    # pylint: disable=import-outside-toplevel
    from sky import task as task_lib
    from sky.jobs import utils as managed_job_utils
    from sky.jobs import constants as jobs_constants
    from sky.server import plugin_utils
    from sky.skylet import constants
    from sky.utils import common_utils
    from sky.utils import controller_utils

    jobs = controller_utils.Controllers.JOBS_CONTROLLER
    serve = controller_utils.Controllers.SKY_SERVE_CONTROLLER
    with tempfile.TemporaryDirectory() as scratch:
        user_yaml = os.path.join(scratch, 'job.yaml')
        with open(user_yaml, 'w', encoding='utf-8') as f:
            f.write('name: probe\nrun: echo probe\n')
        prefix = '~/.sky/managed_jobs/probe'
        variables = {
            'remote_original_user_yaml_path': f'{prefix}.original_user_yaml',
            'original_user_dag_path': user_yaml,
            'remote_user_yaml_path': f'{prefix}.yaml',
            'user_yaml_path': user_yaml,
            'local_to_controller_file_mounts': {},
            'jobs_controller': 'sky-jobs-controller-probe',
            'dag_name': 'probe',
            'remote_user_config_path': f'{prefix}.config_yaml',
            'remote_env_file_path': f'{prefix}.env',
            'modified_catalogs': {},
            'priority': constants.DEFAULT_PRIORITY,
            'priority_class': None,
            'is_consolidation_mode': False,
            'jobs_scheduler_python_cmd': constants.SKY_PYTHON_CMD,
            'pool': None,
            'job_controller_indicator_file':
                jobs_constants.JOB_CONTROLLER_INDICATOR_FILE,
            'num_jobs': 1,
            'job_ids': [1],
            'job_id_to_rank': {
                '1': 0
            },
            **controller_utils.shared_controller_vars_to_fill(
                jobs,
                remote_user_config_path=f'{prefix}.config_yaml',
                local_user_config={}),
        }
        task_yaml = os.path.join(scratch, 'controller.yaml')
        common_utils.fill_template(jobs_constants.JOBS_CONTROLLER_TEMPLATE,
                                   variables,
                                   output_path=task_yaml)
        task = task_lib.Task.from_yaml(task_yaml)
        user_files = {
            f'{prefix}.original_user_yaml', f'{prefix}.yaml'
        }
        mounts, commands = plugin_utils.get_plugin_mounts_and_commands()
        serve_vars = controller_utils.controller_only_vars_to_fill(serve)
        report = {
            'file_mounts': {
                remote: local
                for remote, local in task.file_mounts.items()
                if remote not in user_files
            },
            'run': task.run,
            'plugin_mounts': mounts,
            'plugin_commands': commands,
            'remote_plugins_config': (
                plugin_utils.get_filtered_plugins_config_path()),
            'serve': {
                'plugin_wheel_file_mounts':
                    serve_vars['plugin_wheel_file_mounts'],
                'plugins_wheel_install_commands':
                    serve_vars['plugins_wheel_install_commands'],
                'local_plugins_config_path':
                    serve_vars['local_plugins_config_path'],
                'remote_plugins_config_path':
                    serve_vars['remote_plugins_config_path'],
            },
            # How SkyPilot sets up and runs a controller's Python.
            'setup_sky_dirs': constants.SETUP_SKY_DIRS_COMMANDS,
            'uv_installation': constants.UV_INSTALLATION_COMMANDS,
            'uv_pip': constants.SKY_UV_PIP_CMD,
            'python': constants.SKY_PYTHON_CMD,
            'activate': constants.ACTIVATE_SKY_REMOTE_PYTHON_ENV,
            'override_consolidation_mode':
                constants.OVERRIDE_CONSOLIDATION_MODE,
            'job_queue_command':
                managed_job_utils.ManagedJobCodeGen.get_job_table(),
        }
    with open(output, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)


def job_queues(output: str, payloads: List[str]) -> None:
    from sky.jobs import utils as managed_job_utils  # pylint: disable=import-outside-toplevel
    queues = []
    for payload in payloads:
        with open(payload, encoding='utf-8') as f:
            jobs, total, _, total_no_filter, status_counts, infra_options = (
                managed_job_utils.load_managed_job_queue(f.read()))
        queues.append({
            'jobs': jobs,
            'total': total,
            'total_no_filter': total_no_filter,
            'status_counts': status_counts,
            'infra_options': infra_options,
        })
    with open(output, 'w', encoding='utf-8') as f:
        json.dump(queues, f)


if __name__ == '__main__':
    if sys.argv[1] == 'controller-task':
        controller_task(sys.argv[2])
    elif sys.argv[1] == 'job-queue':
        job_queues(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(f'usage: {sys.argv[0]} controller-task OUTPUT | '
                 'job-queue OUTPUT PAYLOAD...')
