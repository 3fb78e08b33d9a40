// The runtime's entry in the Kubeless runtime ConfigMap (kubeless-config,
// "runtime-images"): `jsonnet php.jsonnet` prints it.
{
  ID: 'php',
  depName: 'composer.json',
  fileNameSuffix: '.php',
  versions: [
    {
      name: 'php-bookworm',
      version: 'bookworm',
      images: [
        {
          phase: 'runtime',
          // Pin the digest of the image you push: registry/runtime-proxy-php@sha256:...
          image: 'registry.example/runtime-proxy-php:0.1.0',
          env: { FUNC_RUNTIME: 'php' },
        },
      ],
    },
  ],
}
