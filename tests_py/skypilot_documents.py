"""SkyPilot's own templates and task YAMLs, as the YAML tests and the
benchmark use them (imports SkyPilot).

The cluster templates are rendered with the variables
``backend_utils.write_cluster_config`` and
``clouds.Kubernetes.make_deploy_resources_variables`` pass, where those do
not need a cloud: SkyPilot's own setup commands (constants, instance_setup)
and plausible values for the rest (a 4-CPU pod on a kind cluster). A
variable a template names and nothing here sets is None, or where the
template iterates over it (TEMPLATE_OVERRIDES), empty.
"""

import glob
import os
from typing import Any, Dict, List, Tuple

import jinja2
import jinja2.meta

import sky
from sky.skylet import constants
from sky.provision import instance_setup
from sky.provision.kubernetes import fuse as kubernetes_fuse
from sky.utils import cluster_utils
from sky.utils import yaml_utils

TEMPLATES_DIR = os.path.join(os.path.dirname(sky.__file__), 'templates')
EXAMPLES_DIR = os.path.join(os.path.dirname(sky.__file__), 'recipes',
                            'examples')
KUBERNETES_TEMPLATE = 'kubernetes-ray.yml.j2'
WHEEL_HASH = '2f7c3a9e1d4b'

# Variables a template iterates over or calls .items()/.get() on.
TEMPLATE_OVERRIDES: Dict[str, Dict[str, Any]] = {
    'azure-ray.yml.j2': {'cloud_init_setup_commands': []},
    'gcp-ray.yml.j2': {'volumes': []},
    'jobs-controller-provision.yaml.j2': {
        'cloud_dependencies_installation_commands': [],
        'controller_envs': {},
    },
    'jobs-controller.yaml.j2': {
        'job_ids': [],
        'modified_catalogs': {},
        'local_to_controller_file_mounts': {},
        'plugin_wheel_file_mounts': {},
        'controller_envs': {},
    },
    'kubernetes-ingress.yml.j2': {
        'annotations': {},
        'service_names_and_ports': [],
    },
    'kubernetes-loadbalancer.yml.j2': {'annotations': {}, 'ports': []},
    'local-ray.yml.j2': {'worker_ips': []},
    'nebius-ray.yml.j2': {'filesystems': [], 'env_vars': {}},
    'sky-serve-controller.yaml.j2': {
        'cloud_dependencies_installation_commands': [],
        'controller_envs': {},
        'local_to_controller_file_mounts': {},
        'modified_catalogs': {},
        'plugin_wheel_file_mounts': {},
    },
}


def _common_variables(yaml_path: str) -> Dict[str, Any]:
    """What write_cluster_config passes every cloud's template."""
    return {
        'cluster_name_on_cloud': 'sky-3f2a-alice',
        'num_nodes': 2,
        'disk_size': 256,
        'user': 'alice',
        'workspace': 'default',
        'original_user': 'Alice',
        'use_internal_ips': False,
        'ssh_proxy_command': None,
        'labels': {
            'team': 'ml',
            'env': 'dev'
        },
        'conda_installation_commands':
            constants.CONDA_INSTALLATION_COMMANDS.replace(
                '{conda_auto_activate}',
                'true').replace('{is_custom_docker}', 'false'),
        'uv_installation_commands': constants.UV_INSTALLATION_COMMANDS,
        'skypilot_wheel_installation_commands':
            constants.SKYPILOT_WHEEL_INSTALLATION_COMMANDS.replace(
                '{sky_wheel_hash}', WHEEL_HASH).replace('{cloud}',
                                                        'kubernetes'),
        'copy_skypilot_templates_commands':
            constants.COPY_SKYPILOT_TEMPLATES_COMMANDS,
        'ray_port': constants.SKY_REMOTE_RAY_PORT,
        'ray_dashboard_port': constants.SKY_REMOTE_RAY_DASHBOARD_PORT,
        'raise_nofile_limit_command': instance_setup.RAISE_NOFILE_LIMIT_CMD,
        'credentials': {},
        'sky_remote_path': '~/.sky/wheels',
        'sky_local_path': '/home/alice/.sky/wheels/' + WHEEL_HASH,
        'sky_ray_yaml_remote_path': cluster_utils.SKY_CLUSTER_YAML_REMOTE_PATH,
        'sky_ray_yaml_local_path': yaml_path,
        'sky_version': sky.__version__,
        'sky_wheel_hash': WHEEL_HASH,
        'ssh_max_sessions_config': constants.SET_SSH_MAX_SESSIONS_CONFIG_CMD,
        'ssh_private_key': '~/.sky/clients/3f2a/ssh/sky-key',
        'high_availability': False,
        'volume_mounts': [],
        'ephemeral_volume_mounts': [],
        'volume_mount_rw_paths': [],
        'runcmd': None,
        'priority_class': None,
        'initial_setup_commands': [],
    }


def _kubernetes_variables() -> Dict[str, Any]:
    """What the Kubernetes cloud adds: a 4-CPU, 16 GB pod, no GPU."""
    return {
        'cpus': '4',
        'memory': '16',
        'accelerator_count': '0',
        'timeout': '600',
        'k8s_port_mode': 'loadbalancer',
        'k8s_service_account_name': 'skypilot-service-account',
        'k8s_automount_sa_token': 'true',
        'k8s_fuse_device_required': True,
        'k8s_fusermount_shared_dir': kubernetes_fuse.FUSERMOUNT_SHARED_DIR,
        'k8s_fusermount_setup_command':
            kubernetes_fuse.get_fusermount_shim_setup_command(
                sudo_cmd='$(prefix_cmd)',
                shared_dir=kubernetes_fuse.FUSERMOUNT_SHARED_DIR),
        'k8s_skypilot_system_namespace': 'skypilot-system',
        'k8s_env_vars': {
            'SKYPILOT_IN_CLUSTER_CONTEXT_NAME': 'kind-skypilot',
            'NVIDIA_VISIBLE_DEVICES': 'none'
        },
        'k8s_docker_config_dict': {},
        'image_id': 'us-docker.pkg.dev/sky-dev-465/skypilotk8s/skypilot:latest',
        'ray_installation_commands': constants.RAY_INSTALLATION_COMMANDS,
        'ray_patches_cmd': instance_setup.ray_patches_cmd(
            constants.SKY_REMOTE_RAY_VERSION),
        'ray_head_start_command': instance_setup.ray_head_start_command(
            None, None),
        'skypilot_ray_port': constants.SKY_REMOTE_RAY_PORT,
        'ray_worker_start_command': instance_setup.ray_worker_start_command(
            None, None, no_restart=False),
        'sky_python_cmd': constants.SKY_PYTHON_CMD,
        'sky_unset_pythonpath_and_set_cwd':
            constants.SKY_UNSET_PYTHONPATH_AND_SET_CWD,
        'k8s_network_type': 'none',
        'k8s_context': 'kind-skypilot',
        'k8s_namespace': 'default',
        'k8s_host_network': False,
        'tpu_requested': False,
    }


def template_names() -> List[str]:
    """Every Jinja template SkyPilot ships in sky/templates/."""
    return sorted(
        os.path.basename(path)
        for path in glob.glob(os.path.join(TEMPLATES_DIR, '*.j2')))


def template_variables(template: str, yaml_path: str) -> Dict[str, Any]:
    """Plausible variables for one of SkyPilot's templates (see above)."""
    with open(os.path.join(TEMPLATES_DIR, template), encoding='utf-8') as f:
        source = f.read()
    names = jinja2.meta.find_undeclared_variables(
        jinja2.Environment().parse(source))
    known = {**_common_variables(yaml_path), **_kubernetes_variables()}
    variables = {name: known.get(name) for name in names}
    variables.update(TEMPLATE_OVERRIDES.get(template, {}))
    return variables


def rendered_configs(directory: str) -> List[Tuple[str, Any]]:
    """(template, what yaml_utils.read_yaml gives of it) for each template
    that renders to valid YAML with template_variables."""
    from sky.utils import common_utils  # pylint: disable=import-outside-toplevel
    configs = []
    for template in template_names():
        path = os.path.join(directory, template[:-len('.j2')])
        try:
            common_utils.fill_template(template,
                                       template_variables(template, path),
                                       path)
            config = yaml_utils.read_yaml(path)
        except Exception:  # pylint: disable=broad-except
            continue  # ibm-ray.yml.j2 needs more than None to be YAML
        configs.append((template, config))
    return configs


def kubernetes_cluster_yaml(directory: str) -> str:
    """Render kubernetes-ray.yml.j2 into ``directory``; return its path."""
    from sky.utils import common_utils  # pylint: disable=import-outside-toplevel
    path = os.path.join(directory, 'cluster.yml')
    common_utils.fill_template(KUBERNETES_TEMPLATE,
                               template_variables(KUBERNETES_TEMPLATE, path),
                               path)
    return path


def example_tasks() -> List[Tuple[str, Any]]:
    """(file name, config) of SkyPilot's recipes/examples/*.yaml."""
    return [(os.path.basename(path), yaml_utils.read_yaml(path))
            for path in sorted(glob.glob(os.path.join(EXAMPLES_DIR, '*.yaml')))
           ]
