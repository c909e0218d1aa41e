{{/* Labels of one component (server or processing). */}}
{{- define "records.labels" -}}
app.kubernetes.io/name: {{ .chart.Chart.Name }}
app.kubernetes.io/instance: {{ .chart.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A Deployment of the server image running one component. */}}
{{- define "records.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "records.labels" . | nindent 4 }}
    app.kubernetes.io/version: {{ .chart.Values.image.tag | quote }}
spec:
  replicas: {{ .replicas }}
  selector:
    matchLabels:
      {{- include "records.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "records.labels" . | nindent 8 }}
      annotations:
        # A change of packages or configuration restarts the pods, which load both at start.
        checksum/solution: {{ include (print .chart.Template.BasePath "/solution.yaml") .chart | sha256sum }}
    spec:
      containers:
        - name: {{ .component }}
          image: "{{ .chart.Values.image.repository }}:{{ .chart.Values.image.tag }}"
          imagePullPolicy: {{ .chart.Values.image.pullPolicy }}
          args: [{{ .component | quote }}, "--solution", "/etc/records"]
          {{- if eq .component "server" }}
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /health
              port: http
          {{- end }}
          volumeMounts:
            - name: solution
              mountPath: /etc/records
              readOnly: true
          resources:
            {{- toYaml .chart.Values.resources | nindent 12 }}
      volumes:
        - name: solution
          configMap:
            name: {{ .chart.Release.Name }}-solution
{{- end }}
