{{/*
Refuses value combinations that cannot work, with the value to change. Included by every template
that depends on them, so `helm template` and `helm install` stop before anything is applied.
*/}}
{{- define "lectern.validate" -}}
{{- $v := .Values -}}
{{- if not (has $v.kind (list "StatefulSet" "Deployment")) -}}
{{- fail (printf "kind must be StatefulSet or Deployment, got %q" $v.kind) -}}
{{- end -}}
{{- if not (has $v.database.provider (list "sqlite" "postgres")) -}}
{{- fail (printf "database.provider must be sqlite or postgres, got %q" $v.database.provider) -}}
{{- end -}}
{{- if and (gt (int $v.replicas) 1) (eq $v.database.provider "sqlite") -}}
{{- fail (printf "replicas: %d needs PostgreSQL: SQLite is the database of a single server. Set database.provider: postgres and database.postgres.existingSecret (or database.postgres.url), or replicas: 1." (int $v.replicas)) -}}
{{- end -}}
{{- if and (eq $v.database.provider "postgres") (not $v.database.postgres.existingSecret) (not $v.database.postgres.url) -}}
{{- fail "database.provider: postgres needs the database's URL: set database.postgres.existingSecret (a Secret with key database.postgres.existingSecretKey) or database.postgres.url." -}}
{{- end -}}
{{- if and $v.database.postgres.existingSecret $v.database.postgres.url -}}
{{- fail "set database.postgres.existingSecret or database.postgres.url, not both." -}}
{{- end -}}
{{- if and $v.storage.nfs.server $v.storage.existingClaim -}}
{{- fail "set storage.existingClaim or storage.nfs, not both." -}}
{{- end -}}
{{- if and (or $v.storage.nfs.server $v.storage.nfs.path) (not (and $v.storage.nfs.server $v.storage.nfs.path)) -}}
{{- fail "storage.nfs needs both server and path." -}}
{{- end -}}
{{- if and $v.storage.nfs.path (not (hasPrefix "/" $v.storage.nfs.path)) -}}
{{- fail (printf "storage.nfs.path must be an absolute path, got %q" $v.storage.nfs.path) -}}
{{- end -}}
{{- if and (not $v.storage.create) (not $v.storage.existingClaim) (not $v.storage.nfs.server) -}}
{{- fail "Lectern needs a data volume: set storage.create: true, storage.existingClaim or storage.nfs." -}}
{{- end -}}
{{- if or (hasPrefix "/" $v.storage.subPath) (has ".." (splitList "/" $v.storage.subPath)) -}}
{{- fail (printf "storage.subPath must be a relative path inside the volume, got %q" $v.storage.subPath) -}}
{{- end -}}
{{- if and (ne (include "lectern.jobsNamespace" .) .Release.Namespace) (not (include "lectern.usesNFS" .)) (not $v.launcher.dataClaimName) -}}
{{- fail (printf "content pods run in namespace %q, where the release's claim %q does not exist: create a claim there on the same storage and set launcher.dataClaimName, or use storage.nfs." (include "lectern.jobsNamespace" .) (include "lectern.dataClaim" .)) -}}
{{- end -}}
{{- if or (eq (int $v.runAsUser) 0) (eq (int $v.runAsGroup) 0) -}}
{{- fail "runAsUser and runAsGroup must not be 0: Lectern and its content never run as root." -}}
{{- end -}}
{{- $instance := include "lectern.instanceName" . -}}
{{- if not (regexMatch "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$" $instance) -}}
{{- fail (printf "launcher.instanceName %q must be a label value (at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends): Lectern labels content pods with it and the NetworkPolicy selects them by it." $instance) -}}
{{- end -}}
{{- range $which := list "image" "initImage" -}}
{{- $digest := (get $v $which).digest -}}
{{- if and $digest (not (regexMatch "^sha256:[a-f0-9]{64}$" $digest)) -}}
{{- fail (printf "%s.digest must be sha256: and 64 hex digits (as `crane digest` or `docker buildx imagetools inspect` print it), got %q" $which $digest) -}}
{{- end -}}
{{- end -}}
{{- with $v.launcher.jobBase -}}
{{- if and .kind (ne .kind "Job") -}}
{{- fail (printf "launcher.jobBase must be a batch/v1 Job (kind: Job), got kind %q" .kind) -}}
{{- end -}}
{{- if and .apiVersion (ne .apiVersion "batch/v1") -}}
{{- fail (printf "launcher.jobBase must be a batch/v1 Job, got apiVersion %q" .apiVersion) -}}
{{- end -}}
{{- end -}}
{{- range $key, $_ := $v.launcher.contentPod.labels -}}
{{- if or (has $key (list "app.kubernetes.io/managed-by" "app.kubernetes.io/instance")) (hasPrefix "lectern.dev/" $key) -}}
{{- fail (printf "launcher.contentPod.labels: %s is Lectern's own label on content pods (it finds its pods by it); use launcher.instanceName for the instance, another key for yours." $key) -}}
{{- end -}}
{{- end -}}
{{- $base := include "lectern.jobBase" . | fromYaml -}}
{{- $baseSpec := $base.spec.template.spec -}}
{{- range (default (list) $baseSpec.volumes) -}}
{{- if has .name (list "lectern-runtime" "lectern-data" "tmp") -}}
{{- fail (printf "content pod volume %q: Lectern names its own volumes lectern-runtime, lectern-data and tmp; give yours another name (launcher.contentPod.volumes or launcher.jobBase)." .name) -}}
{{- end -}}
{{- end -}}
{{- range (default (list) $baseSpec.initContainers) -}}
{{- if has .name (list "lectern-runtime" "content") -}}
{{- fail (printf "content pod init container or sidecar %q: lectern-runtime and content are Lectern's own containers; give yours another name." .name) -}}
{{- end -}}
{{- end -}}
{{- range $v.extraVolumes -}}
{{- if has .name (list "data" "config" "environments" "tmp") -}}
{{- fail (printf "extraVolumes: %q is one of the server pod's own volumes (data, config, environments, tmp); give yours another name." .name) -}}
{{- end -}}
{{- end -}}
{{- range $i, $env := $v.executionEnvironments -}}
{{- range $runtime := list "python" "r" "quarto" "tensorflow" -}}
{{- range $inst := (dig $runtime "installations" list $env) -}}
{{- if and (hasKey $inst "version") (not (kindIs "string" $inst.version)) -}}
{{- fail (printf "executionEnvironments[%d] (%v): %s version %v must be quoted (\"%v\"): Helm reads an unquoted 3.10 as the number 3.1." $i $env.name $runtime $inst.version $inst.version) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $section, $keys := $v.config -}}
{{- if not (kindIs "map" $keys) -}}
{{- fail (printf "config.%s must be a map of settings ({Key: value}), got %v" $section $keys) -}}
{{- end -}}
{{- range $key, $_ := $keys -}}
{{- $owned := get (include "lectern.ownedSettings" $ | fromYaml) (printf "%s.%s" $section $key) -}}
{{- if $owned -}}
{{- fail (printf "config.%s.%s is set by the chart: use %s instead." $section $key $owned) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.launcher.contentServiceAccount.create (hasKey (default (dict) $v.config.Launcher) "DefaultServiceAccount") -}}
{{- fail "config.Launcher.DefaultServiceAccount is set by the chart while launcher.contentServiceAccount.create is true: name the account in launcher.contentServiceAccount.name, or set create: false to use one of your own." -}}
{{- end -}}
{{- end -}}

