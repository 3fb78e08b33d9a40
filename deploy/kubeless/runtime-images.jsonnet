// The kubeless-config ConfigMap's "runtime-images" entry for the four
// runtimes in runtimes/, made from their own jsonnet files:
//   jsonnet deploy/kubeless/runtime-images.jsonnet > kubeless-config.json
// then merge its data into the cluster's kubeless-config (kubectl apply or
// patch). Each image name is a placeholder: pin the digest you push.
local runtimes = [
  import '../../runtimes/ruby/ruby.jsonnet',
  import '../../runtimes/php/php.jsonnet',
  import '../../runtimes/node/node.jsonnet',
  import '../../runtimes/python/python.jsonnet',
];
{
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'kubeless-config', namespace: 'kubeless' },
  data: {
    'runtime-images': std.manifestJsonEx(runtimes, '  '),
  },
}
