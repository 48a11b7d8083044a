{{/* Settings the chart derives from values, and the value that sets each. */}}
{{- define "lectern.ownedSettings" -}}
HTTP.Listen: "the container port (fixed at :3939; service.port sets the Service's)"
Server.DataDir: storage
Server.Address: address
Server.ReplicaName: "kind (pod names)"
Server.SecretKey: secretKey.existingSecret
Database.Provider: database.provider
Postgres.URL: database.postgres
Launcher.Enabled: "nothing (the chart always runs content off-host)"
Launcher.Kubernetes: "nothing (the chart always runs content off-host)"
Launcher.KubernetesNamespace: launcher.namespace
Launcher.DataDir: storage.nfs
Launcher.DataDirPVCName: "storage.existingClaim or launcher.dataClaimName"
Launcher.DataDirPVCSubPath: storage.subPath
Launcher.InitContainerImage: initImage
Launcher.InitContainerPullPolicy: initImage.pullPolicy
Launcher.InstanceName: launcher.instanceName
Launcher.JobBase: "launcher.contentPod or launcher.jobBase"
ExecutionEnvironments.ConfigFilePath: executionEnvironments
{{- end -}}

{{/*
The gcfg configuration: the chart's settings, then `config`. Keys in sorted order so the checksum
only changes when a setting does; lists repeat the key; every value is double-quoted (gcfg escapes).
*/}}
{{- define "lectern.gcfg" -}}
{{- $v := .Values -}}
{{- $launcher := dict "Enabled" true "Kubernetes" true "KubernetesNamespace" (include "lectern.jobsNamespace" .) "InitContainerImage" (include "lectern.initImage" .) "InitContainerPullPolicy" $v.initImage.pullPolicy "InstanceName" (include "lectern.instanceName" .) "JobBase" (include "lectern.jobBasePath" .) -}}
{{- if include "lectern.usesNFS" . -}}
{{- $_ := set $launcher "DataDir" (printf "%s:%s" $v.storage.nfs.server (trimSuffix "/" $v.storage.nfs.path)) -}}
{{- else -}}
{{- $_ := set $launcher "DataDirPVCName" (default (include "lectern.dataClaim" .) $v.launcher.dataClaimName) -}}
{{- end -}}
{{- if $v.storage.subPath -}}{{- $_ := set $launcher "DataDirPVCSubPath" $v.storage.subPath -}}{{- end -}}
{{- if $v.launcher.contentServiceAccount.create -}}{{- $_ := set $launcher "DefaultServiceAccount" (include "lectern.contentServiceAccountName" .) -}}{{- end -}}
{{- $server := dict "DataDir" (include "lectern.dataDir" .) -}}
{{- if $v.address -}}{{- $_ := set $server "Address" $v.address -}}{{- end -}}
{{- $chart := dict "HTTP" (dict "Listen" ":3939") "Server" $server "Database" (dict "Provider" $v.database.provider) "Launcher" $launcher -}}
{{- $_ := set $chart "ExecutionEnvironments" (dict "ConfigFilePath" (printf "%s/environments.yaml" (include "lectern.environmentsDir" .))) -}}
{{- $all := mergeOverwrite (deepCopy $v.config) $chart -}}
; Lectern's configuration, rendered by the Helm chart from its values (deploy/helm/lectern).
; [Server] ReplicaName, [Postgres] URL and [Server] SecretKey come from environment variables.
{{- range $section := keys $all | sortAlpha }}

[{{ $section }}]
{{- $keys := get $all $section }}
{{- range $key := keys $keys | sortAlpha }}
{{- $value := get $keys $key }}
{{- if kindIs "slice" $value }}
{{- range $item := $value }}
{{ $key }} = {{ include "lectern.gcfgValue" $item }}
{{- end }}
{{- else }}
{{ $key }} = {{ include "lectern.gcfgValue" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* One gcfg value, double-quoted. YAML numbers arrive as floats: whole ones are written as integers (not 2.147483648e+09). */}}
{{- define "lectern.gcfgValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . | toString | quote -}}
{{- else -}}
{{- . | toString | quote -}}
{{- end -}}
{{- end -}}


{{/*
[Bundles] MaxUploadSize in bytes — `config` when it sets one, else Lectern's default (2GiB) — so an
Ingress lets through every bundle Lectern accepts. Units as Lectern reads them (src/config/config.ts
parseBytes): k, m, g, t are powers of 1000, ki, mi, gi, ti of 1024, case-insensitive, an optional "b".
*/}}
{{- define "lectern.maxUploadBytes" -}}
{{- $raw := dig "Bundles" "MaxUploadSize" "2GiB" .Values.config -}}
{{- if not (kindIs "string" $raw) -}}
{{- int64 $raw -}}
{{- else -}}
{{- $m := regexFindAll "^([0-9]+(?:\\.[0-9]+)?)\\s*([a-zA-Z]*)$" (trim $raw) 1 -}}
{{- if not $m -}}
{{- fail (printf "config.Bundles.MaxUploadSize: %q is not a size such as \"512MiB\", \"2GB\" or a number of bytes" $raw) -}}
{{- end -}}
{{- $number := regexReplaceAll "^([0-9.]+).*$" (trim $raw) "${1}" -}}
{{- $unit := lower (trimSuffix "b" (lower (regexReplaceAll "^[0-9.]+\\s*" (trim $raw) ""))) -}}
{{- $units := dict "" 1 "k" 1000 "m" 1000000 "g" 1000000000 "t" 1000000000000 "ki" 1024 "mi" 1048576 "gi" 1073741824 "ti" 1099511627776 -}}
{{- if not (hasKey $units $unit) -}}
{{- fail (printf "config.Bundles.MaxUploadSize: %q has an unknown unit (k, m, g, t, ki, mi, gi, ti, with an optional b)" $raw) -}}
{{- end -}}
{{- mulf (float64 $number) (get $units $unit) | floor | int64 -}}
{{- end -}}
{{- end -}}
