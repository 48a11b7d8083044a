{{/*
The base Job every content Job starts from ([Launcher] JobBase): launcher.jobBase as given, then
launcher.contentPod over it, then the chart's labels. Lectern merges its own fields over the result
(src/launcher/kubernetes/job-manifest.ts mergeUnder): objects key by key, named lists by name with
Lectern's item winning, so what is here shapes content pods without replacing what Lectern needs.
*/}}
{{- define "lectern.jobBase" -}}
{{- $pod := .Values.launcher.contentPod -}}
{{- $job := deepCopy (default (dict) .Values.launcher.jobBase) -}}
{{- $_ := set $job "apiVersion" "batch/v1" -}}
{{- $_ = set $job "kind" "Job" -}}
{{- /* Lectern sets managed-by (lectern) and instance itself; versions are left out so a chart upgrade alone changes no base Job and rolls nothing. */ -}}
{{- $chartLabels := dict "app.kubernetes.io/name" (include "lectern.name" .) "app.kubernetes.io/component" "content" "app.kubernetes.io/part-of" "lectern" -}}
{{- $meta := default (dict) $job.metadata -}}
{{- $_ = set $meta "labels" (mergeOverwrite (deepCopy $chartLabels) (default (dict) $meta.labels) $pod.labels) -}}
{{- $_ = set $job "metadata" $meta -}}
{{- $spec := default (dict) $job.spec -}}
{{- $template := default (dict) $spec.template -}}
{{- $tmeta := default (dict) $template.metadata -}}
{{- $_ = set $tmeta "labels" (mergeOverwrite (deepCopy $chartLabels) (default (dict) $tmeta.labels) $pod.labels) -}}
{{- /* With sidecars in the pod, `kubectl logs` and `kubectl exec` still default to the content. */ -}}
{{- $_ = set $tmeta "annotations" (mergeOverwrite (dict "kubectl.kubernetes.io/default-container" "content") (default (dict) $tmeta.annotations) $pod.annotations) -}}
{{- $_ = set $template "metadata" $tmeta -}}
{{- $ps := default (dict) $template.spec -}}
{{- with $pod.nodeSelector }}{{ $_ = set $ps "nodeSelector" (mergeOverwrite (default (dict) $ps.nodeSelector) .) }}{{ end -}}
{{- with $pod.tolerations }}{{ $_ = set $ps "tolerations" (concat (default (list) $ps.tolerations) .) }}{{ end -}}
{{- with $pod.affinity }}{{ $_ = set $ps "affinity" . }}{{ end -}}
{{- with $pod.topologySpreadConstraints }}{{ $_ = set $ps "topologySpreadConstraints" . }}{{ end -}}
{{- with $pod.priorityClassName }}{{ $_ = set $ps "priorityClassName" . }}{{ end -}}
{{- with $pod.runtimeClassName }}{{ $_ = set $ps "runtimeClassName" . }}{{ end -}}
{{- with $pod.securityContext }}{{ $_ = set $ps "securityContext" (mergeOverwrite (default (dict) $ps.securityContext) .) }}{{ end -}}
{{- with $pod.volumes }}{{ $_ = set $ps "volumes" (concat (default (list) $ps.volumes) .) }}{{ end -}}
{{- /* Sidecars are native (init containers that keep running): a plain second container would keep a build's pod, and so its Job, from ever completing. */ -}}
{{- $sidecars := list -}}
{{- range $pod.sidecars }}{{ $sidecars = append $sidecars (mergeOverwrite (dict "restartPolicy" "Always") .) }}{{ end -}}
{{- $inits := concat (default (list) $ps.initContainers) $pod.initContainers $sidecars -}}
{{- if $inits }}{{ $_ = set $ps "initContainers" $inits }}{{ end -}}
{{- $content := dict "name" "content" -}}
{{- $others := list -}}
{{- range (default (list) $ps.containers) -}}
{{- if eq .name "content" }}{{ $content = deepCopy . }}{{ else }}{{ $others = append $others . }}{{ end -}}
{{- end -}}
{{- with $pod.resources }}{{ $_ = set $content "resources" (mergeOverwrite (default (dict) $content.resources) (deepCopy .)) }}{{ end -}}
{{- with $pod.volumeMounts }}{{ $_ = set $content "volumeMounts" (concat (default (list) $content.volumeMounts) .) }}{{ end -}}
{{- with $pod.env }}{{ $_ = set $content "env" (concat (default (list) $content.env) .) }}{{ end -}}
{{- with $pod.imagePullPolicy }}{{ $_ = set $content "imagePullPolicy" . }}{{ end -}}
{{- if or (gt (len $content) 1) $others }}{{ $_ = set $ps "containers" (prepend $others $content) }}{{ end -}}
{{- $_ = set $template "spec" $ps -}}
{{- $_ = set $spec "template" $template -}}
{{- $_ = set $job "spec" $spec -}}
{{- toYaml $job -}}
{{- end -}}
