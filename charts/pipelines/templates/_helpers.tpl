{{/* Labels of one component (scheduler or worker). */}}
{{- define "pipelines.labels" -}}
app.kubernetes.io/name: {{ .chart.Chart.Name }}
app.kubernetes.io/instance: {{ .chart.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A Deployment of the runner image running one component. */}}
{{- define "pipelines.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .chart.Release.Name }}-{{ .component }}
  labels:
    {{- include "pipelines.labels" . | nindent 4 }}
    app.kubernetes.io/version: {{ .chart.Values.image.tag | quote }}
spec:
  replicas: {{ .replicas }}
  {{- if eq .component "scheduler" }}
  # One scheduler at a time, during a rollout too: two would start every run twice.
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "pipelines.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "pipelines.labels" . | nindent 8 }}
      annotations:
        checksum/settings: {{ include (print .chart.Template.BasePath "/settings.yaml") .chart | sha256sum }}
    spec:
      containers:
        - name: {{ .component }}
          image: "{{ .chart.Values.image.repository }}:{{ .chart.Values.image.tag }}"
          imagePullPolicy: {{ .chart.Values.image.pullPolicy }}
          args: [{{ .component | quote }}]
          envFrom:
            - configMapRef:
                name: {{ .chart.Release.Name }}-settings
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /health
              port: http
          resources:
            {{- toYaml .chart.Values.resources | nindent 12 }}
{{- end }}
