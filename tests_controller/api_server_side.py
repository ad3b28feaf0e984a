"""What an API server's SkyPilot makes of its plugin files for a jobs
controller: run with HOME set to the server's home, it writes JSON to the
file named by its argument.

The controller task is made as ``sky.jobs.server.core.launch`` makes it:
the template ``jobs-controller.yaml.j2`` filled with
``controller_utils.shared_controller_vars_to_fill()`` (which asks
``plugin_utils.get_plugin_mounts_and_commands()`` for the plugin wheels)
and read back with ``Task.from_yaml``. Only what describes the user's job
(its YAML, its id) is made up here.
"""

import json
import os
import sys
import tempfile


def main(output: str) -> None:
    # pylint: disable=import-outside-toplevel
    from sky import task as task_lib
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
        }
    with open(output, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)


if __name__ == '__main__':
    main(sys.argv[1])
