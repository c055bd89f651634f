{{- define "plume.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "plume.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "plume.labels" -}}
{{ include "plume.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "plume.image" -}}
{{ .Values.imageRegistry }}/{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- /* The Qdrant service of the official chart (its qdrant.fullname), or an external URL */ -}}
{{- define "plume.qdrantUrl" -}}
{{- if .Values.qdrant.enabled -}}
{{- $name := "qdrant" -}}
{{- $full := "" -}}
{{- if .Values.qdrant.fullnameOverride -}}
{{- $full = .Values.qdrant.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name .Release.Name -}}
{{- $full = .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $full = printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
http://{{ $full }}:6333
{{- else -}}
{{- required "externalQdrantUrl est obligatoire quand qdrant.enabled est faux" .Values.externalQdrantUrl -}}
{{- end -}}
{{- end -}}

{{- /* The PLUME_ variables of every Plume container; `localFill` for PLUME_LOCAL_FILL */ -}}
{{- define "plume.env" -}}
{{- $root := .root -}}
- name: PLUME_DATA_DIR
  value: /data
- name: PLUME_HOST
  value: 0.0.0.0
- name: PLUME_PORT
  value: {{ $root.Values.service.port | quote }}
- name: PLUME_STORE_BACKEND
  value: server
- name: PLUME_QDRANT_URL
  value: {{ include "plume.qdrantUrl" $root | quote }}
- name: PLUME_IMAGE_REGISTRY
  value: {{ $root.Values.imageRegistry | quote }}
- name: PLUME_LOCAL_FILL
  value: {{ .localFill | quote }}
{{- range $name, $value := $root.Values.env }}{{/* PLUME_ names only: values.schema.json */}}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- range $root.Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.existingSecret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
{{- end -}}

{{- define "plume.dataClaim" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "plume.fullname" .)) -}}
{{- end -}}

{{- /* The ingestion pod: the Job of each revision and the optional CronJob run it alike */ -}}
{{- define "plume.ingestPod" -}}
metadata:
  labels:
    {{- include "plume.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: ingest
spec:
  restartPolicy: Never
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  containers:
    - name: ingest
      image: {{ include "plume.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command:
        - sh
        - -ec
        - |
          plume db upgrade
          plume store init
          plume corpus fetch
          plume ingest service-public --if-empty || [ $? -eq 3 ]
          plume ingest legi --if-empty || [ $? -eq 3 ]
          plume ingest programmes || [ $? -eq 3 ]
          if [ -n "${PLUME_AIDES_TERRITOIRES_TOKEN:-}" ]; then plume ingest aides-territoires || [ $? -eq 3 ]; fi
          plume vectors
      env:
        {{- include "plume.env" (dict "root" . "localFill" false) | nindent 8 }}
      resources:
        {{- toYaml .Values.ingest.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "plume.dataClaim" . }}
{{- end -}}
