{{/* Labels of one app (api or web). */}}
{{- define "orders.labels" -}}
app.kubernetes.io/name: {{ .chart.Chart.Name }}
app.kubernetes.io/instance: {{ .chart.Release.Name }}
app.kubernetes.io/component: {{ .app }}
{{- end }}

{{/* The Deployment and Service of one app. */}}
{{- define "orders.app" -}}
{{- $values := index .chart.Values .app -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .chart.Release.Name }}-{{ .app }}
  labels:
    {{- include "orders.labels" . | nindent 4 }}
    app.kubernetes.io/version: {{ $values.image.tag | quote }}
spec:
  replicas: {{ $values.replicaCount }}
  selector:
    matchLabels:
      {{- include "orders.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "orders.labels" . | nindent 8 }}
    spec:
      containers:
        - name: {{ .app }}
          image: "{{ $values.image.repository }}:{{ $values.image.tag }}"
          imagePullPolicy: {{ .chart.Values.pullPolicy }}
          {{- with $values.secretName }}
          envFrom:
            - secretRef:
                name: {{ . }}
          {{- end }}
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /health
              port: http
          resources:
            {{- toYaml .chart.Values.resources | nindent 12 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .chart.Release.Name }}-{{ .app }}
  labels:
    {{- include "orders.labels" . | nindent 4 }}
spec:
  selector:
    {{- include "orders.labels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .chart.Values.service.port }}
      targetPort: http
{{- end }}
