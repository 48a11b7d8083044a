{{/* Names, labels, and the settings the chart derives from its values. */}}

{{- define "lectern.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lectern.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "lectern.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "lectern.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lectern.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lectern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "lectern.labels" -}}
{{ include "lectern.selectorLabels" . }}
{{ include "lectern.commonLabels" . }}
{{- end -}}

{{/*
The labels of the chart's pods: without the chart's and app's version, so a chart upgrade that
changes nothing else rolls no server and no content pod (the image still says the version).
*/}}
{{- define "lectern.podLabels" -}}
{{ include "lectern.selectorLabels" . }}
app.kubernetes.io/part-of: lectern
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of everything the chart makes, without the component (content objects have their own). */}}
{{- define "lectern.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lectern
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Objects the chart makes for content (its ServiceAccount), labelled as content pods are. */}}
{{- define "lectern.contentLabels" -}}
app.kubernetes.io/name: {{ include "lectern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: content
{{ include "lectern.commonLabels" . }}
{{- end -}}

{{/*
[Launcher] InstanceName: Lectern writes it as app.kubernetes.io/instance on every content Job, Pod
and Secret, so by default it is the release's own instance label.
*/}}
{{- define "lectern.instanceName" -}}
{{- default .Release.Name .Values.launcher.instanceName -}}
{{- end -}}

{{/* The labels Lectern itself puts on content pods (src/launcher/kubernetes/job-manifest.ts jobLabels): what selects them. */}}
{{- define "lectern.contentPodSelector" -}}
app.kubernetes.io/managed-by: lectern
app.kubernetes.io/instance: {{ include "lectern.instanceName" . }}
{{- end -}}

{{- define "lectern.contentServiceAccountName" -}}
{{- default (printf "%s-content" (include "lectern.fullname" .)) .Values.launcher.contentServiceAccount.name -}}
{{- end -}}

{{- define "lectern.serviceAccountName" -}}
{{- default (include "lectern.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "lectern.jobsNamespace" -}}
{{- default .Release.Namespace .Values.launcher.namespace -}}
{{- end -}}

{{- define "lectern.dataClaim" -}}
{{- default (printf "%s-data" (include "lectern.fullname" .)) .Values.storage.existingClaim -}}
{{- end -}}

{{- define "lectern.usesNFS" -}}
{{- if and .Values.storage.nfs.server (not .Values.storage.existingClaim) -}}true{{- end -}}
{{- end -}}

{{/* repository@digest when a digest is given (it wins over the tag), else repository:tag (appVersion by default). */}}
{{- define "lectern.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .appVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "lectern.image" -}}
{{- include "lectern.imageRef" (dict "image" .Values.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "lectern.initImage" -}}
{{- include "lectern.imageRef" (dict "image" .Values.initImage "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "lectern.postgresSecret" -}}
{{- default (printf "%s-postgres" (include "lectern.fullname" .)) .Values.database.postgres.existingSecret -}}
{{- end -}}

{{/* Where the environments ConfigMap is mounted: a directory, so the kubelet can replace the file live. */}}
{{- define "lectern.environmentsDir" -}}/etc/lectern/environments{{- end -}}
{{- define "lectern.dataDir" -}}/var/lib/lectern{{- end -}}
{{/* [Launcher] JobBase: read once at start-up, so it lives next to the gcfg and shares its checksum. */}}
{{- define "lectern.jobBasePath" -}}/etc/lectern/job-base.yaml{{- end -}}
{{/* Lectern's fixed worker port (src/launcher/kubernetes/job-manifest.ts WORKER_PORT): the only port content pods listen on. */}}
{{- define "lectern.workerPort" -}}8080{{- end -}}

{{/* The restricted container securityContext (Pod Security Standards). */}}
{{- define "lectern.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* helm test's pod: not a server (component test), so the Service and the workload never select it. */}}
{{- define "lectern.testLabels" -}}
app.kubernetes.io/name: {{ include "lectern.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end -}}
